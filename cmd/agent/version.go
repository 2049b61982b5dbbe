package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// Set at build time by release builds:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123 -X main.date=2026-12-01T00:00:00Z"
var (
	version = ""
	commit  = ""
	date    = ""
)

// versionString returns "VERSION (commit COMMIT, built DATE)", falling back
// to the module version and the VCS stamp Go records.
func versionString() string {
	v, c, d := version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", v, c, d)
}

func runVersion(stdout io.Writer) error {
	_, err := fmt.Fprintf(stdout, "sshconverge %s\n", versionString())
	return err
}
