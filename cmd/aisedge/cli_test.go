package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIHelpTyposAndExitStatuses runs the built command: per-command help
// with flags and examples, 'did you mean' for commands, verbs and flags,
// and the exit statuses of docs/reference.md.
func TestCLIHelpTyposAndExitStatuses(t *testing.T) {
	dir := t.TempDir()
	badCfg := writeFile(t, dir, "bad.yaml", "edge:\n  nmae: x\n")
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"help", "run"}, 0, []string{"usage: aisedge run [flags]", "-log-level", "-quiet-period", "examples:", "aisedge run --log-level debug"}},
		{[]string{"run", "-h"}, 0, []string{"usage: aisedge run [flags]", "examples:"}},
		{[]string{"config", "-h"}, 0, []string{"usage: aisedge config validate", "-role", "examples:", "aisedge config validate --role edge"}},
		{[]string{"help", "quarantine"}, 0, []string{"release ID... --reason R", "--older-than", "examples:"}},
		{[]string{"help", "send"}, 0, []string{"-progress-every", "examples:"}},
		{[]string{"help"}, 0, []string{"exit statuses:", "130  interrupted", "5    partial failure"}},
		{[]string{"sned", "x"}, exitUsage, []string{`unknown command "sned"; did you mean "send"?`}},
		{[]string{"help", "stauts"}, exitUsage, []string{`did you mean "status"?`}},
		{[]string{"run", "--lisen", ":1"}, exitUsage, []string{"did you mean --listen?"}},
		{[]string{"quarantine", "relase", "x"}, exitUsage, []string{`did you mean "release"?`}},
		{[]string{"config", "validate", badCfg}, exitConfig, []string{"bad.yaml:2", "nmae"}},
		{[]string{"edge", "--config", badCfg}, exitConfig, []string{"bad.yaml:2"}},
		{[]string{"status", "--socket", filepath.Join(dir, "no.sock")}, exitConnection, []string{"no daemon answers"}},
		{[]string{"echo", "--timeout", "5s", closedPort(t)}, exitConnection, []string{"connection refused"}},
	} {
		code, out := cli(t, tc.args...)
		if code != tc.code {
			t.Errorf("aisedge %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("aisedge %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
}
