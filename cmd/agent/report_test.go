package main

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/reconcile"
)

// The JSON report is a contract with fleet tooling: docs/report.schema.json
// describes it, and every report the tests make is checked against it —
// each `sshconverge ... --format json` of the scripts (through
// runReportChecked in TestMain) and each Run of the Go tests that asks
// for JSON (checkReport).

// reportSchemaEnv names the schema file for the agent the scripts run (a
// child process whose working directory is the script's); the Go tests
// run in cmd/agent and find it from there.
const reportSchemaEnv = "SSHCONVERGE_REPORT_SCHEMA"

// reportFailuresEnv names the file where the scripts' agent also records
// a report that does not conform: a script expecting a failure (`! exec`)
// would take exit 3 for one, so TestScripts fails the script from it.
const reportFailuresEnv = "SSHCONVERGE_REPORT_FAILURES"

// exitBadReport is the exit code of the scripts' agent when its report
// does not conform to the schema (the agent itself never exits 3).
const exitBadReport = 3

// reportSchemaPath returns the schema file: $SSHCONVERGE_REPORT_SCHEMA, or
// docs/report.schema.json from cmd/agent.
func reportSchemaPath() string {
	if p := os.Getenv(reportSchemaEnv); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "docs", "report.schema.json"))
	if err != nil {
		panic(err)
	}
	return p
}

// reportSchema is the compiled schema, compiled once per process.
var reportSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return compileReportSchema(reportSchemaPath())
})

// compileReportSchema compiles the schema file at path, with format
// assertions on (so "time" must be an RFC 3339 date-time).
func compileReportSchema(path string) (*jsonschema.Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("report schema %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(path, doc); err != nil {
		return nil, fmt.Errorf("report schema %s: %w", path, err)
	}
	sch, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("report schema %s: %w", path, err)
	}
	return sch, nil
}

// validateReport checks that out is exactly one JSON document conforming
// to the report schema, and the one thing the schema cannot say: the
// summary counts the results by status.
func validateReport(out []byte) error {
	sch, err := reportSchema()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return fmt.Errorf("the report is not one JSON document: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("the report does not conform to %s:\n%v", reportSchemaPath(), err)
	}
	var r struct {
		Summary map[string]int `json:"summary"`
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("the report: %w", err)
	}
	counts := map[string]int{}
	for _, res := range r.Results {
		counts[res.Status]++
	}
	for _, status := range []string{"ok", "changed", "conflict", "mismatch", "failed"} {
		if counts[status] != r.Summary[status] {
			return fmt.Errorf("the report's summary says %s=%d, its results have %d", status, r.Summary[status], counts[status])
		}
	}
	return nil
}

// checkReport fails the test when stdout, an agent's --format json
// output, is not a report that conforms to docs/report.schema.json.
func checkReport(t testing.TB, stdout string) {
	t.Helper()
	if err := validateReport([]byte(stdout)); err != nil {
		t.Errorf("%v\nthe report:\n%s", err, stdout)
	}
}

// checkReportArgs calls checkReport when args make the agent print a
// report in JSON and it printed something (a command-line mistake prints
// nothing).
func checkReportArgs(t testing.TB, args []string, stdout string) {
	t.Helper()
	if printsJSONReport(args) && stdout != "" {
		checkReport(t, stdout)
	}
}

// printsJSONReport reports whether args are those of a converge run (not
// show, validate, version or help) with --format json.
func printsJSONReport(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "show", "validate", "version", "--version", "-version", "help", "--help", "-help", "-h":
		return false
	}
	isJSON := false
	for i, a := range args {
		switch {
		case a == "--":
			return isJSON
		case a == "-h" || a == "-help" || a == "--help":
			return false
		case strings.HasPrefix(a, "--format=") || strings.HasPrefix(a, "-format="):
			isJSON = strings.HasSuffix(a, "=json")
		case (a == "--format" || a == "-format") && i+1 < len(args):
			isJSON = args[i+1] == "json"
		}
	}
	return isJSON
}

// runReportChecked runs the agent as the scripts' sshconverge command:
// with --format json its standard output is captured, written through,
// and checked against the schema; a report that does not conform, or a
// run that exits 0 or 2 without one, ends with exitBadReport and says why
// on stderr.
func runReportChecked(args []string, stdout, stderr io.Writer) int {
	if !printsJSONReport(args) {
		return Run(context.Background(), args, stdout, stderr)
	}
	var out bytes.Buffer
	code := Run(context.Background(), args, &out, stderr)
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "report check: %v\n", err)
		return exitBadReport
	}
	if out.Len() == 0 && code == exitError {
		return code // a command-line mistake: usage on stderr, no report
	}
	if err := validateReport(out.Bytes()); err != nil {
		msg := fmt.Sprintf("report check: sshconverge %s: exit %d, and %v\n", strings.Join(args, " "), code, err)
		fmt.Fprint(stderr, msg)
		recordReportFailure(msg)
		return exitBadReport
	}
	return code
}

// recordReportFailure appends msg to the file $SSHCONVERGE_REPORT_FAILURES
// names, if any.
func recordReportFailure(msg string) {
	name := os.Getenv(reportFailuresEnv)
	if name == "" {
		return
	}
	if f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		fmt.Fprint(f, msg)
		f.Close()
	}
}

// setupReportCheck is the scripts' Setup: their agent finds the schema,
// and a script fails at its end when one of its reports did not conform,
// whatever exit code the script expected.
func setupReportCheck(schema string) func(env *testscript.Env) error {
	return func(env *testscript.Env) error {
		env.Setenv(reportSchemaEnv, schema)
		failures := filepath.Join(env.WorkDir, ".report-check-failures")
		env.Setenv(reportFailuresEnv, failures)
		env.Defer(func() {
			if b, err := os.ReadFile(failures); err == nil {
				env.T().Fatal(string(b))
			}
		})
		return nil
	}
}

// TestReportSchemaCompiles: the published schema is a valid draft
// 2020-12 schema.
func TestReportSchemaCompiles(t *testing.T) {
	if _, err := reportSchema(); err != nil {
		t.Fatal(err)
	}
}

// fullReport returns a report with every field set, marshalled.
func fullReport(t *testing.T) []byte {
	t.Helper()
	r := reconcile.Report{
		SchemaVersion: reconcile.ReportSchemaVersion, Host: "web1", Time: time.Date(2026, 11, 24, 15, 7, 55, 123, time.UTC),
		Mode: "apply", Root: "/", Desired: "hardening.yaml", OpenSSH: "9.2p1", InSync: false, ReloadPending: true,
		Summary: reconcile.Summary{OK: 1, Changed: 1, Conflict: 1, Mismatch: 1, Failed: 1},
		Results: []reconcile.ReportResult{
			{Side: reconcile.Server, Scope: "global", Keyword: "ClientAliveInterval", Desired: []string{"300"}, Effective: []string{"120"},
				Origin: "/etc/ssh/sshd_config.d/50-cloud-init.conf:5", Status: reconcile.Changed, Action: reconcile.Insert,
				Edits: []reconcile.ReportEdit{
					{File: "/etc/ssh/sshd_config.d/00-sshconverge.conf", Line: 2, Kind: files.EditInsert, After: "ClientAliveInterval 300"},
					{File: "/etc/ssh/sshd_config", Line: 9, Kind: files.EditUpdate, Before: "X 1", After: "X 2"},
					{File: "/etc/ssh/sshd_config", Line: 12, Kind: files.EditRemove, Before: "X 3"},
				},
				Note: "left as it is", Source: "hardening.yaml:6:26", Verified: reconcile.Unverified},
			{Side: reconcile.Server, Scope: "Match User backup", Keyword: "PasswordAuthentication", Desired: []string{"no"}, Effective: []string{"yes"},
				Status: reconcile.Failed, Action: reconcile.Remove, Source: "h.yaml:3:4", Everywhere: true, Verified: reconcile.ByFiles},
			{Side: reconcile.Server, Scope: "global", Keyword: "PermitRootLogin", Desired: []string{"no"}, Effective: []string{"no"}, Default: false,
				Status: reconcile.InSync, Action: reconcile.NoOp, Source: "h.yaml:4:4", Verified: reconcile.ByDaemon,
				Overrides: []reconcile.Override{{Criteria: "User backup", Origin: "/etc/ssh/sshd_config:40", Value: []string{"yes"}, Differs: true, Desired: true}}},
			{Side: reconcile.Server, Scope: "global", Keyword: "X11Forwarding", Absent: true, Effective: []string{"no"}, Default: true,
				Status: reconcile.Mismatched, Action: reconcile.NoOp, Reason: "sshd uses yes", Source: "h.yaml:5:4", Verified: reconcile.Mismatch, Daemon: []string{"yes"}},
			{Side: reconcile.Client, Scope: "Host bastion", Keyword: "ProxyJump", Desired: []string{"none"},
				Status: reconcile.Conflicted, Action: reconcile.Conflict, Reason: "/etc/ssh/ssh_config:1 wins", Source: "c.yaml:7:8", Verified: reconcile.Unverified},
		},
		Written: []string{"/etc/ssh/sshd_config"}, Restored: []string{"/etc/ssh/sshd_config"},
		SSHD: &reconcile.ReportSSHD{PID: 42, Exe: "/usr/sbin/sshd", Args: []string{"-D"}, Found: "/run/sshd.pid", Mode: reconcile.ReloadSystemd,
			Reload: reconcile.Reloaded, Did: "systemctl reload ssh.service"},
		Error: &reconcile.ReportError{Message: "d.yaml:1:1: bad", Errors: []reconcile.ReportPosition{{File: "d.yaml", Line: 1, Col: 1, Message: "bad"}}},
		Diff:  "--- a/etc/ssh/sshd_config\n+++ b/etc/ssh/sshd_config\n",
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportSchemaAcceptsEveryField: a report with every field and an
// example of every enum's words conforms.
func TestReportSchemaAcceptsEveryField(t *testing.T) {
	b := fullReport(t)
	if err := validateReport(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
}

// TestReportSchemaRejects: the validation can fail — a field the schema
// does not name (at any level), an unknown status, a wrong schema
// version, a missing required field, a bad time, an edit kind that is a
// number, trailing data, a summary that does not count the results.
func TestReportSchemaRejects(t *testing.T) {
	if err := validateReport(fullReport(t)); err != nil {
		t.Fatalf("the report every case starts from does not conform (see TestReportSchemaAcceptsEveryField): %v", err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(m map[string]any)
	}{
		{"unknown field", "additional properties 'colour' not allowed", func(m map[string]any) { m["colour"] = "red" }},
		{"unknown result field", "additional properties 'colour' not allowed", func(m map[string]any) { result(m)["colour"] = "red" }},
		{"unknown edit field", "additional properties 'colour' not allowed", func(m map[string]any) {
			result(m)["edits"].([]any)[0].(map[string]any)["colour"] = "red"
		}},
		{"bad status", "at '/results/0/status': value must be one of", func(m map[string]any) { result(m)["status"] = "drifted" }},
		{"bad action", "at '/results/0/action': value must be one of", func(m map[string]any) { result(m)["action"] = "rewrite" }},
		{"bad side", "at '/results/0/side': value must be one of", func(m map[string]any) { result(m)["side"] = "scp" }},
		{"bad verified", "at '/results/0/verified': value must be one of", func(m map[string]any) { result(m)["verified"] = "maybe" }},
		{"bad edit kind", "kind", func(m map[string]any) { result(m)["edits"].([]any)[0].(map[string]any)["kind"] = 7 }},
		{"unknown edit kind word", "at '/results/0/edits/0/kind': value must be one of", func(m map[string]any) {
			result(m)["edits"].([]any)[0].(map[string]any)["kind"] = "rewrite"
		}},
		{"schema version 2", "at '/schema_version': value must be 1", func(m map[string]any) { m["schema_version"] = 2 }},
		{"no results", "missing property 'results'", func(m map[string]any) { delete(m, "results") }},
		{"no summary count", "missing property 'failed'", func(m map[string]any) { delete(m["summary"].(map[string]any), "failed") }},
		{"bad time", "date-time", func(m map[string]any) { m["time"] = "yesterday" }},
		{"bad reload", "at '/sshd/reload': value must be one of", func(m map[string]any) { m["sshd"].(map[string]any)["reload"] = "restarted" }},
		{"error without message", "missing property 'message'", func(m map[string]any) { delete(m["error"].(map[string]any), "message") }},
		{"summary off", "summary says ok=2", func(m map[string]any) { m["summary"].(map[string]any)["ok"] = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(fullReport(t), &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			err = validateReport(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validation error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := validateReport(append(fullReport(t), "{}"...)); err == nil || !strings.Contains(err.Error(), "not one JSON document") {
		t.Errorf("two documents: %v", err)
	}
}

// result returns the first result of a decoded report.
func result(m map[string]any) map[string]any { return m["results"].([]any)[0].(map[string]any) }

// schemaDefs maps each Go type of the report to its place in the schema.
var schemaDefs = map[reflect.Type]string{
	reflect.TypeFor[reconcile.Report]():         "",
	reflect.TypeFor[reconcile.Summary]():        "summary",
	reflect.TypeFor[reconcile.ReportResult]():   "result",
	reflect.TypeFor[reconcile.ReportEdit]():     "edit",
	reflect.TypeFor[reconcile.Override]():       "override",
	reflect.TypeFor[reconcile.ReportSSHD]():     "sshd",
	reflect.TypeFor[reconcile.ReportError]():    "error",
	reflect.TypeFor[reconcile.ReportPosition](): "position",
}

// TestReportSchemaMatchesGo: the schema names exactly the JSON fields of
// reconcile.Report and the types in it, a field is required exactly when
// Go always writes it (no omitempty), every object is closed, and every
// enum lists exactly the words its Go type marshals to. A field added in
// Go without a schema change fails here.
func TestReportSchemaMatchesGo(t *testing.T) {
	b, err := os.ReadFile(reportSchemaPath())
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	seen := map[string]bool{}
	for typ, def := range schemaDefs {
		obj := root
		if def != "" {
			obj, _ = defs[def].(map[string]any)
			seen[def] = true
		}
		if obj == nil {
			t.Errorf("%v: the schema has no $defs/%s", typ, def)
			continue
		}
		compareObject(t, typ, obj)
	}
	for name, d := range defs {
		if m, _ := d.(map[string]any); m["type"] == "object" && !seen[name] {
			t.Errorf("the schema's $defs/%s is no Go type's (add it to schemaDefs)", name)
		}
	}
}

// compareObject compares a struct type's JSON fields with a schema object.
func compareObject(t *testing.T, typ reflect.Type, obj map[string]any) {
	t.Helper()
	if obj["additionalProperties"] != false {
		t.Errorf("%v: the schema object is not closed (additionalProperties: false)", typ)
	}
	props, _ := obj["properties"].(map[string]any)
	var required []string
	reqs, _ := obj["required"].([]any)
	for _, r := range reqs {
		required = append(required, r.(string))
	}
	var names, wantRequired []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") {
			wantRequired = append(wantRequired, name)
		}
		prop, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%v.%s: the schema has no property %q", typ, f.Name, name)
			continue
		}
		compareEnum(t, typ, f, prop)
	}
	for name := range props {
		if !slices.Contains(names, name) {
			t.Errorf("%v: the schema's property %q is no field of the Go type", typ, name)
		}
	}
	sort.Strings(required)
	sort.Strings(wantRequired)
	if !slices.Equal(required, wantRequired) {
		t.Errorf("%v: the schema requires %v; Go always writes %v", typ, required, wantRequired)
	}
}

// compareEnum checks a field of a named integer type: it must marshal as
// text, and the schema's enum must list exactly its words.
func compareEnum(t *testing.T, typ reflect.Type, f reflect.StructField, prop map[string]any) {
	t.Helper()
	ft := f.Type
	if ft.Kind() < reflect.Int || ft.Kind() > reflect.Uint64 || ft.PkgPath() == "" {
		return
	}
	if !ft.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		t.Errorf("%v.%s: %v has no MarshalText, so the report has a number where the schema (and a reader) wants its word", typ, f.Name, ft)
		return
	}
	var words []string
	for i := range 256 {
		v := reflect.New(ft).Elem()
		if ft.Kind() >= reflect.Uint {
			v.SetUint(uint64(i))
		} else {
			v.SetInt(int64(i))
		}
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err == nil && !strings.Contains(string(b), "(") { // the stringer writes Type(N) for a value with no name
			words = append(words, string(b))
		}
	}
	var enum []string
	values, _ := prop["enum"].([]any)
	for _, e := range values {
		if s, ok := e.(string); ok {
			enum = append(enum, s)
		}
	}
	sort.Strings(words)
	sort.Strings(enum)
	if !slices.Equal(words, enum) {
		t.Errorf("%v.%s: the schema's enum is %v; %v marshals to %v", typ, f.Name, enum, ft, words)
	}
}
