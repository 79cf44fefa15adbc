package main

import (
	"os/exec"
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

// TestCompletionAndManPage: the completions and the manual page come from
// the command definitions: every command and every flag of a command is in
// them, bash parses the bash script, groff the page without warnings.
func TestCompletionAndManPage(t *testing.T) {
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out := cli(t, "completion", sh)
		if code != 0 {
			t.Fatalf("completion %s: exit %d\n%s", sh, code, out)
		}
		scripts[sh] = out
	}
	_, man := cli(t, "man")
	for name := range commands {
		for sh, s := range scripts {
			if !strings.Contains(s, name) {
				t.Errorf("%s completion lacks the command %s", sh, name)
			}
		}
		if !strings.Contains(man, ".SS aisedge "+name+"\n") {
			t.Errorf("manual page lacks the command %s", name)
		}
	}
	for _, want := range []struct{ sh, s string }{
		{"bash", `run) words=""; flags="--ae-title`}, {"bash", "--log-level"}, {"bash", `quarantine) words="ls show requeue release discard"`},
		{"zsh", "#compdef aisedge"}, {"zsh", "'--deid-key-file["}, {"fish", "-l progress-every"},
	} {
		if !strings.Contains(scripts[want.sh], want.s) {
			t.Errorf("%s completion lacks %q", want.sh, want.s)
		}
	}
	for _, want := range []string{`.B \-\-log\-level \fIlevel\fR`, ".SH EXIT STATUS", ".B 130", "aisedge quarantine ls"} {
		if !strings.Contains(man, want) {
			t.Errorf("manual page lacks %q", want)
		}
	}
	dir := t.TempDir()
	bashFile := writeFile(t, dir, "aisedge.bash", scripts["bash"])
	if b, err := exec.Command("bash", "-n", bashFile).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, b)
	}
	if _, err := exec.LookPath("groff"); err == nil {
		page := writeFile(t, dir, "aisedge.1", man)
		if b, err := exec.Command("groff", "-man", "-ww", "-z", page).CombinedOutput(); err != nil || len(b) > 0 {
			t.Errorf("groff: %v\n%s", err, b)
		}
	}
	if code, out := cli(t, "completion", "bsah"); code != exitUsage || !strings.Contains(out, `did you mean "bash"?`) {
		t.Errorf("completion bsah: exit %d\n%s", code, out)
	}
}
