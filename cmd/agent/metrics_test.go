package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// writeRoot writes files (relative paths) under a new root and returns it.
func writeRoot(t *testing.T, tree map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range tree {
		full := filepath.Join(root, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(c), 0o644))
	}
	return root
}

// parseMetrics parses a metrics file with Prometheus' own text parser.
func parseMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("metrics file does not parse: %v", err)
	}
	return mfs
}

// gaugeValue returns the value of the gauge name whose labels include want.
func gaugeValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	if mf.GetType() != dto.MetricType_GAUGE {
		t.Fatalf("%s is a %v, want a gauge", name, mf.GetType())
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s with labels %v", name, want)
	return 0
}

// TestMetricsFile: --metrics-file writes Prometheus text in every mode,
// under the root, with the run's counts; a failed run says so.
func TestMetricsFile(t *testing.T) {
	root := writeRoot(t, map[string]string{
		"etc/ssh/sshd_config": "ClientAliveInterval 120\nClientAliveCountMax 2\n",
		"desired.yaml":        "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300, ClientAliveCountMax: 2, X11Forwarding: yes}\n",
	})
	desired := filepath.Join(root, "desired.yaml")
	metrics := "/var/lib/node-exporter/sshconverge.prom"
	must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(metrics)), 0o755))
	before := time.Now()
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"--check", "--root", root, "--metrics-file", metrics, desired}, &out, &errb)
	if code != exitDrift {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	mfs := parseMetrics(t, filepath.Join(root, metrics))
	check := map[string]string{"mode": "check"}
	for status, want := range map[string]float64{"in_sync": 1, "drifted": 2, "conflict": 0} {
		if got := gaugeValue(t, mfs, "sshconverge_keys", map[string]string{"mode": "check", "status": status}); got != want {
			t.Errorf("keys %s = %v, want %v", status, got, want)
		}
	}
	if got := gaugeValue(t, mfs, "sshconverge_last_run_success", check); got != 1 {
		t.Errorf("success = %v", got)
	}
	if ts := gaugeValue(t, mfs, "sshconverge_last_run_timestamp_seconds", check); ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("timestamp %v is not this run's", ts)
	}
	if d := gaugeValue(t, mfs, "sshconverge_run_duration_seconds", check); d <= 0 || d > 60 {
		t.Errorf("duration %v", d)
	}
	if v := gaugeValue(t, mfs, "sshconverge_info", nil); v != 1 {
		t.Errorf("info %v", v)
	}

	// A run that fails (a broken desired file) still writes the file.
	must(t, os.WriteFile(desired, []byte("version: 2\n"), 0o644))
	if code := Run(context.Background(), []string{"--check", "--root", root, "--metrics-file", metrics, desired}, &out, &errb); code != exitError {
		t.Fatalf("exit %d", code)
	}
	mfs = parseMetrics(t, filepath.Join(root, metrics))
	if got := gaugeValue(t, mfs, "sshconverge_last_run_success", check); got != 0 {
		t.Errorf("success after a failed run = %v", got)
	}
	if _, ok := mfs["sshconverge_keys"]; ok {
		t.Errorf("a run that planned nothing reports key counts")
	}
}

// TestSplayIsInterruptible: SIGTERM (a cancelled context) ends the splay
// at once, without running.
func TestSplayIsInterruptible(t *testing.T) {
	root := writeRoot(t, map[string]string{"etc/ssh/sshd_config": "", "d.yaml": "version: 1\n"})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"--check", "--splay", "1h", "--root", root, filepath.Join(root, "d.yaml")}, &out, &errb)
	if code != exitError || !strings.Contains(errb.String(), "interrupted during --splay") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("splay was not interrupted")
	}
}

// TestHelp: help, --help and -h exit 0 and list every flag with its
// default; version is stamped.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"--check", "--help"}} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		for _, want := range []string{"-check", "-reload value", "(default auto)", "-lock string", `(default "/run/sshconverge.lock")`, "-splay", "-metrics-file"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, out.String())
			}
		}
	}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"show", "--help"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "-C string") {
		t.Errorf("show --help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := Run(context.Background(), []string{"--version"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "sshconverge ") {
		t.Errorf("--version: exit %d %q", code, out.String())
	}
}

// TestLogFields: not on a terminal, each log event is one JSON line with
// the fields a log pipeline filters on: host, run id, keyword, file,
// action.
func TestLogFields(t *testing.T) {
	root := writeRoot(t, map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 120\n"})
	d := filepath.Join(t.TempDir(), "d.yaml")
	must(t, os.WriteFile(d, []byte("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n"), 0o644))
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"--reload", "none", "--root", root, d}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	host, _ := os.Hostname()
	runs := map[string]bool{}
	var changed map[string]any
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not one JSON object per line: %q", line)
		}
		if ev["host"] != host {
			t.Errorf("event without the host: %s", line)
		}
		runs[fmt.Sprint(ev["run"])] = true
		if ev["message"] == "changed" {
			changed = ev
		}
	}
	if len(runs) != 1 || runs["<nil>"] {
		t.Errorf("run ids %v, want one", runs)
	}
	if changed == nil || changed["keyword"] != "ClientAliveInterval" || changed["file"] != "/etc/ssh/sshd_config" || changed["action"] != "update" {
		t.Errorf("changed event %v", changed)
	}
}
