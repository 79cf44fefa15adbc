package envfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) Lookup {
	return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
}

var testEnv = map[string]string{"HOME": "/home/op", "PATH": "/usr/bin:/bin"}

func environ() []string {
	var out []string
	for k, v := range testEnv {
		out = append(out, k+"="+v)
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		scalar map[string]string
		arrays map[string][]string
		warns  int
	}{
		{"plain", "A=1\nexport B=two\n", map[string]string{"A": "1", "B": "two"}, nil, 0},
		{"quotes", `A="x y" B='a"b' C=a\ b D="q\"q\\" E='$HOME' F="$HOME/x"` + "\n",
			map[string]string{"A": "x y", "B": `a"b`, "C": "a b", "D": `q"q\`, "E": "$HOME", "F": "/home/op/x"}, nil, 0},
		{"comments", "# header\nA=1 # trailing\n  # indented\nB=a#b\n", map[string]string{"A": "1", "B": "a#b"}, nil, 0},
		{"expansion", "export INTERNAL_DOMAIN=\"aisedge.local\"\nexport SEAWEEDFS_HOSTNAME=\"seaweedfs.${INTERNAL_DOMAIN}\"\nX=${UNSET:-dflt} Y=${INTERNAL_DOMAIN:-no} Z=${EMPTY-keep}\nEMPTY=\nW=${EMPTY:-d}${EMPTY-e}\n",
			map[string]string{"INTERNAL_DOMAIN": "aisedge.local", "SEAWEEDFS_HOSTNAME": "seaweedfs.aisedge.local", "X": "dflt", "Y": "aisedge.local", "Z": "keep", "EMPTY": "", "W": "d"}, nil, 0},
		{"unset warns", "A=\"${NOPE}x\" B=$NOPE2\n", map[string]string{"A": "x", "B": ""}, nil, 2},
		{"arrays", "EDGE_NODES=(\n  \"a|1|u\" # first\n  'b|2|u'\n  c\\|3\n)\nEDGE_NODES+=(\"d\")\n",
			nil, map[string][]string{"EDGE_NODES": {"a|1|u", "b|2|u", "c|3", "d"}}, 0},
		{"one-line array", "A=( x \"y z\" )\n", nil, map[string][]string{"A": {"x", "y z"}}, 0},
		{"empty array", "A=()\n", nil, map[string][]string{"A": nil}, 0},
		{"tilde", "K=~/.ssh/id Q=\"~/.ssh/id\" R=a~b\n", map[string]string{"K": "/home/op/.ssh/id", "Q": "~/.ssh/id", "R": "a~b"}, nil, 0},
		{"semicolons and export-only", "A=1; B=2\nexport A\n", map[string]string{"A": "1", "B": "2"}, nil, 0},
		{"append scalar", "A=x\nA+=y\n", map[string]string{"A": "xy"}, nil, 0},
		{"continuation", "A=\"one \\\ntwo\"\nB=x\\\ny\n", map[string]string{"A": "one two", "B": "xy"}, nil, 0},
		{"lone dollar", "A='a$' B=\"5$\"\n", map[string]string{"A": "a$", "B": "5$"}, nil, 0},
		{"crlf-free empty", "", nil, nil, 0},
		{"env", "A=$PATH\n", map[string]string{"A": "/usr/bin:/bin"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("t.env", []byte(tt.src), env(testEnv))
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.scalar {
				if got, ok := f.Get(k); !ok || got != want {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
				}
			}
			for k, want := range tt.arrays {
				v := f.Vars[k]
				if v == nil || !v.IsArray || !reflect.DeepEqual(v.Array, want) {
					t.Errorf("%s = %#v, want array %q", k, v, want)
				}
			}
			if len(f.Warnings) != tt.warns {
				t.Errorf("warnings %v, want %d", f.Warnings, tt.warns)
			}
			crossCheck(t, tt.src, f)
		})
	}
}

// crossCheck makes bash source the same text and compares.
func crossCheck(t *testing.T, src string, f *File) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.env")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	diff, ok, err := CrossCheck(p, f, environ())
	if !ok {
		t.Log("bash not installed: cross-check skipped")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) > 0 {
		t.Errorf("bash disagrees on %v", diff)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name, src, want string
		line            int
	}{
		{"command substitution", "A=1\nB=$(cat /etc/passwd)\n", "$(…) runs a command", 2},
		{"in quotes", "A=\"x$(id)\"\n", "$(…) runs a command", 1},
		{"arithmetic", "A=$((1+2))\n", "$(…) runs a command", 1},
		{"backticks", "A=`id`\n", "backticks", 1},
		{"backticks in quotes", "A=\"`id`\"\n", "backticks", 1},
		{"in default", "A=${B:-$(id)}\n", "$(…) runs a command", 1},
		{"command", "A=1\nrm -rf /\n", "not an assignment", 2},
		{"source", "source other.env\n", "not an assignment", 1},
		{"if", "if true; then A=1; fi\n", "not an assignment", 1},
		{"prefix command", "A=1 echo hi\n", "not an assignment", 1},
		{"declare", "declare -a A=(1)\n", `"declare" is not supported`, 1},
		{"unterminated", "A=\"x\n", "unterminated double quote", 1},
		{"unclosed array", "A=(x\n", "array is not closed", 1},
		{"pipe", "A=x|y\n", "unquoted '|'", 1},
		{"special", "A=$1\n", "special parameter", 1},
		{"pattern", "A=${B#x}\n", "unsupported ${B…}", 1},
		{"index", "A=([0]=x)\n", "indexed array", 1},
		{"semicolon in array", "A=(x; y)\n", "unexpected ';' inside an array", 1},
		{"semicolon first in array", "A=(;x)\n", "unexpected ';' inside an array", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.env", []byte(tt.src), env(testEnv))
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("err = %v, want *Error", err)
			}
			if len(e.Issues) == 0 || !strings.Contains(e.Issues[0].Msg, tt.want) || e.Issues[0].Line != tt.line {
				t.Fatalf("issues %v, want %q at line %d", e.Issues, tt.want, tt.line)
			}
		})
	}
}

func TestEveryLineReported(t *testing.T) {
	_, err := Parse("m.env", []byte("A=$(x)\nB=ok\nC=`y`\nwhoami\n"), nil)
	e, ok := err.(*Error)
	if !ok || len(e.Issues) != 3 {
		t.Fatalf("err = %v, want 3 issues", err)
	}
	for i, line := range []int{1, 3, 4} {
		if e.Issues[i].Line != line || e.Issues[i].File != "m.env" {
			t.Errorf("issue %d = %v, want line %d", i, e.Issues[i], line)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"A=1\n", "A=(\"x\" y)\n", "A=\"${B:-c}\"\n", "export A='q'\n", "A=$(x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		Parse("f.env", []byte(s), nil) // must not panic or hang
	})
}
