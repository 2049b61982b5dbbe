package reconcile

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"line 9: Bad option\r\nterminating":       "line 9: Bad option\nterminating",
		"/etc/ssh/\x1b]0;owned\x07x.conf: line 1": "/etc/ssh/?]0;owned?x.conf: line 1",
		"tab\tand del\x7f":                        "tab\tand del?",
		"été":                                     "été",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
