package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// writeMetrics writes the run's outcome to --metrics-file (if given) in
// Prometheus' text format, for node_exporter's textfile collector. It is
// written atomically, so the collector never reads half a file. runErr is
// the run's error, if any.
func (c *converge) writeMetrics(ctx context.Context, runErr error) error {
	if c.args.metricsFile == "" || c.fs == nil {
		return nil
	}
	catchInterrupts(ctx)
	if err := c.fs.WriteFile(c.args.metricsFile, []byte(c.metrics(runErr, time.Now())), 0o644); err != nil {
		return fmt.Errorf("--metrics-file %s: %w", c.args.metricsFile, err)
	}
	return nil
}

// metrics renders the run's metrics, ended at end.
func (c *converge) metrics(runErr error, end time.Time) string {
	var b strings.Builder
	mode := fmt.Sprintf("mode=%q", c.mode())
	gauge := func(name, help, labels string, v float64) {
		fmt.Fprintf(&b, "# HELP sshconverge_%s %s\n# TYPE sshconverge_%s gauge\n", name, help, name)
		fmt.Fprintf(&b, "sshconverge_%s{%s} %g\n", name, labels, v)
	}
	gauge("last_run_timestamp_seconds", "When the last run ended, in seconds since the epoch.", mode, float64(end.UnixMilli())/1e3)
	gauge("last_run_success", "1 when the last run ended without an error.", mode, boolValue(runErr == nil))
	gauge("run_duration_seconds", "How long the last run took, splay excluded.", mode, end.Sub(c.start).Seconds())
	gauge("reload_pending", "1 when sshd's configuration changed and sshd has not been reloaded since.", mode, boolValue(c.pending))
	gauge("info", "The agent's version and the OpenSSH version it configured.", fmt.Sprintf("version=%q,openssh_version=%q", versionString(), c.opensshVersion()), 1)
	if c.plan != nil {
		c.keyMetrics(&b, mode)
	}
	return b.String()
}

// keyMetrics renders the desired keys by status: in sync, drifted (check)
// or changed (apply), in conflict.
func (c *converge) keyMetrics(b *strings.Builder, mode string) {
	sum := c.plan.Summary()
	changedLabel := "changed"
	if c.args.check {
		changedLabel = "drifted"
	}
	b.WriteString("# HELP sshconverge_keys Desired keys of the last run, by status.\n# TYPE sshconverge_keys gauge\n")
	for _, s := range []struct {
		status string
		n      int
	}{{"in_sync", sum.OK}, {changedLabel, sum.Changed}, {"conflict", sum.Conflict}, {"mismatch", sum.Mismatch}, {"failed", sum.Failed}} {
		fmt.Fprintf(b, "sshconverge_keys{%s,status=%q} %d\n", mode, s.status, s.n)
	}
}

// opensshVersion is the OpenSSH version the run configured, or
// "unknown".
func (c *converge) opensshVersion() string {
	if c.version.IsZero() {
		return "unknown"
	}
	return c.version.String()
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
