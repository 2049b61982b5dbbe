package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		// Every JSON report a script makes is checked against
		// docs/report.schema.json (exit 3 when it does not conform).
		"sshconverge": func() { os.Exit(runReportChecked(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts in testdata/scripts: each
// builds a tree under $WORK, runs the agent and checks its output and exit
// code.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/scripts", Setup: setupReportCheck(reportSchemaPath())})
}
