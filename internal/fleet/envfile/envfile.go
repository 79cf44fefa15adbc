// Package envfile reads the original installer's configuration files
// (config/management.env, config/edge-nodes.env): bash scripts that
// install.sh sources. It parses the subset those files use — assignments
// with or without `export`, single and double quotes, backslash escapes,
// `$VAR` / `${VAR}` / `${VAR:-default}` expansion, arrays `NAME=( … )` over
// several lines, `+=`, comments — and refuses everything that would run a
// command (`$(…)`, backticks, `$((…))`, any line that is not an assignment),
// so a file is never executed to be read.
//
// CrossCheck compares a parse with what bash itself makes of the file.
//
// It imports nothing of the project's own; internal/fleet uses it.
package envfile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// Var is one variable of a file: a string or an array.
type Var struct {
	Name    string
	Value   string   // scalar value (for an array: its first element, as bash's $NAME)
	Array   []string // elements when IsArray
	IsArray bool
	Line    int   // line of the (last) assignment
	Lines   []int // line of each array element
	Export  bool
}

// File is a parsed env file.
type File struct {
	Name string
	Vars map[string]*Var
	// Order lists variable names in order of first assignment.
	Order []string
	// Warnings are things bash accepts that deserve a look (unset variables
	// expanded to "", no-op lines).
	Warnings []Issue
}

// Issue is a problem at a line of a file.
type Issue struct {
	File string
	Line int
	Msg  string
}

func (i Issue) String() string { return fmt.Sprintf("%s:%d: %s", i.File, i.Line, i.Msg) }

// Error lists every line that could not be parsed.
type Error struct{ Issues []Issue }

func (e *Error) Error() string {
	s := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		s[i] = is.String()
	}
	return strings.Join(s, "\n")
}

// Get returns a scalar variable's value and whether it was set.
func (f *File) Get(name string) (string, bool) {
	v, ok := f.Vars[name]
	if !ok {
		return "", false
	}
	return v.Value, true
}

// Lookup resolves variables that a file reads but does not set (bash would
// take them from the environment). nil means "nothing is set".
type Lookup func(name string) (string, bool)

// ReadFile parses the file at path.
func ReadFile(path string, env Lookup) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b, env)
}

// Parse parses src (named name in messages). Variables set earlier in the
// file take precedence over env. Every unparseable line is reported, not
// just the first.
func Parse(name string, src []byte, env Lookup) (*File, error) {
	p := &parser{f: &File{Name: name, Vars: map[string]*Var{}}, src: string(src), line: 1, env: env}
	p.run()
	if len(p.errs) > 0 {
		return p.f, &Error{Issues: p.errs}
	}
	return p.f, nil
}

type parser struct {
	f    *File
	src  string
	pos  int
	line int
	env  Lookup
	errs []Issue
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, Issue{File: p.f.Name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(line int, format string, args ...any) {
	p.f.Warnings = append(p.f.Warnings, Issue{File: p.f.Name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) next() byte {
	c := p.src[p.pos]
	p.pos++
	if c == '\n' {
		p.line++
	}
	return c
}

// skipLine skips to after the next newline (error recovery).
func (p *parser) skipLine() {
	for !p.eof() {
		if p.next() == '\n' {
			return
		}
	}
}

// skipBlanks skips spaces and tabs (and line continuations).
func (p *parser) skipBlanks() {
	for !p.eof() {
		c := p.peek()
		if c == ' ' || c == '\t' || c == '\r' {
			p.pos++
			continue
		}
		if c == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n' {
			p.next()
			p.next()
			continue
		}
		return
	}
}

func (p *parser) skipComment() {
	if p.peek() == '#' {
		for !p.eof() && p.peek() != '\n' {
			p.pos++
		}
	}
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// errBad carries a parse failure out of nested word parsing.
type errBad struct{ msg string }

func (p *parser) run() {
	for !p.eof() {
		p.skipBlanks()
		p.skipComment()
		if p.eof() {
			return
		}
		switch c := p.peek(); {
		case c == '\n' || c == ';':
			p.next()
			continue
		}
		start := p.line
		if err := p.statement(); err != nil {
			p.errorf(start, "%s", err.msg)
			p.skipLine()
		}
	}
}

// statement parses `[export] NAME=value [NAME=value ...]` or `export NAME...`.
func (p *parser) statement() *errBad {
	line := p.line
	word := p.peekWord()
	export := false
	switch word {
	case "export":
		export = true
		p.pos += len(word)
		p.skipBlanks()
	case "declare", "typeset", "readonly", "local":
		return &errBad{fmt.Sprintf("%q is not supported in an env file; write NAME=value or export NAME=value", word)}
	}
	n := 0
	for {
		p.skipBlanks()
		p.skipComment()
		if p.eof() || p.peek() == '\n' || p.peek() == ';' {
			break
		}
		if !isNameStart(p.peek()) {
			return &errBad{p.notAssignment()}
		}
		s := p.pos
		for !p.eof() && isNameChar(p.peek()) {
			p.pos++
		}
		name := p.src[s:p.pos]
		appendOp := false
		if strings.HasPrefix(p.src[p.pos:], "+=") {
			appendOp = true
			p.pos += 2
		} else if p.peek() == '=' {
			p.pos++
		} else {
			c := p.peek()
			if export && (c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '#' || c == 0 || c == '\r') {
				// `export NAME`: marks an existing variable; nothing to read.
				if v, ok := p.f.Vars[name]; ok {
					v.Export = true
				}
				n++
				continue
			}
			p.pos = s
			return &errBad{p.notAssignment()}
		}
		if p.peek() == '(' {
			p.next()
			elems, lines, err := p.array()
			if err != nil {
				return err
			}
			p.setArray(name, elems, lines, appendOp, export, line)
		} else {
			val, err := p.word(false)
			if err != nil {
				return err
			}
			p.setScalar(name, val, appendOp, export, line)
		}
		n++
	}
	if n == 0 {
		return &errBad{"expected NAME=value after export"}
	}
	return nil
}

// peekWord returns the bare word at the current position.
func (p *parser) peekWord() string {
	e := p.pos
	for e < len(p.src) && isNameChar(p.src[e]) {
		e++
	}
	if e < len(p.src) && p.src[e] != ' ' && p.src[e] != '\t' {
		return ""
	}
	return p.src[p.pos:e]
}

func (p *parser) notAssignment() string {
	e := strings.IndexByte(p.src[p.pos:], '\n')
	rest := p.src[p.pos:]
	if e >= 0 {
		rest = rest[:e]
	}
	if len(rest) > 40 {
		rest = rest[:40] + "…"
	}
	return fmt.Sprintf("not an assignment: %q (only NAME=value, export NAME=value and NAME=( … ) are read; commands are never run)", strings.TrimSpace(rest))
}

func (p *parser) setScalar(name, val string, appendOp, export bool, line int) {
	v, ok := p.f.Vars[name]
	if !ok {
		v = &Var{Name: name}
		p.f.Vars[name] = v
		p.f.Order = append(p.f.Order, name)
	}
	if v.IsArray {
		// NAME=x on an array sets element 0, as in bash.
		if len(v.Array) == 0 {
			v.Array = []string{""}
		}
		if appendOp {
			v.Array[0] += val
		} else {
			v.Array[0] = val
		}
		v.Value = v.Array[0]
	} else if appendOp {
		v.Value += val
	} else {
		v.Value = val
	}
	v.Line = line
	v.Export = v.Export || export
}

func (p *parser) setArray(name string, elems []string, lines []int, appendOp, export bool, line int) {
	v, ok := p.f.Vars[name]
	if !ok {
		v = &Var{Name: name}
		p.f.Vars[name] = v
		p.f.Order = append(p.f.Order, name)
	}
	switch {
	case appendOp && v.IsArray:
		v.Array = append(v.Array, elems...)
		v.Lines = append(v.Lines, lines...)
	case appendOp && ok:
		v.Array = append([]string{v.Value}, elems...)
		v.Lines = append([]int{v.Line}, lines...)
	default:
		v.Array, v.Lines = elems, lines
	}
	v.IsArray = true
	v.Value = ""
	if len(v.Array) > 0 {
		v.Value = v.Array[0]
	}
	v.Line = line
	v.Export = v.Export || export
}

// array parses elements up to the closing parenthesis, across lines.
func (p *parser) array() ([]string, []int, *errBad) {
	var out []string
	var lines []int
	for {
		for !p.eof() {
			p.skipBlanks()
			p.skipComment()
			if p.peek() == '\n' {
				p.next()
				continue
			}
			break
		}
		if p.eof() {
			return nil, nil, &errBad{"array is not closed with ')'"}
		}
		if p.peek() == ')' {
			p.next()
			return out, lines, nil
		}
		if p.peek() == '[' {
			return nil, nil, &errBad{"indexed array elements ([i]=v) are not supported; list the elements in order"}
		}
		lines = append(lines, p.line)
		start := p.pos
		w, err := p.word(true)
		if err != nil {
			return nil, nil, err
		}
		if p.pos == start {
			// A character that ends a word without being one (';'): bash
			// refuses it inside an array, and looping on it would never end.
			return nil, nil, &errBad{fmt.Sprintf("unexpected %q inside an array", p.peek())}
		}
		out = append(out, w)
	}
}

// word parses one shell word: a concatenation of unquoted, single-quoted and
// double-quoted parts. inArray stops at ')' too.
func (p *parser) word(inArray bool) (string, *errBad) {
	var b strings.Builder
	if p.peek() == '~' {
		// Tilde expansion at the start of an unquoted word, as bash does
		// for ~ and ~/… (not ~user).
		if n := p.pos + 1; n >= len(p.src) || strings.IndexByte(" \t\n;/)", p.src[n]) >= 0 {
			if home, ok := p.lookup("HOME"); ok {
				p.next()
				b.WriteString(home)
			}
		}
	}
	for !p.eof() {
		c := p.peek()
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '\r':
			return b.String(), nil
		case c == ')' && inArray:
			return b.String(), nil
		case c == '(' || c == ')' || c == '|' || c == '&' || c == '<' || c == '>':
			return "", &errBad{fmt.Sprintf("unquoted %q: quote the value", c)}
		case c == '`':
			return "", &errBad{"backticks run a command; not allowed in an env file"}
		case c == '\'':
			p.next()
			e := strings.IndexByte(p.src[p.pos:], '\'')
			if e < 0 {
				return "", &errBad{"unterminated single quote"}
			}
			b.WriteString(p.src[p.pos : p.pos+e])
			for i := 0; i <= e; i++ {
				p.next()
			}
		case c == '"':
			p.next()
			if err := p.doubleQuoted(&b); err != nil {
				return "", err
			}
		case c == '\\':
			p.next()
			if p.eof() {
				return "", &errBad{"backslash at end of file"}
			}
			if d := p.next(); d != '\n' {
				b.WriteByte(d)
			}
		case c == '$':
			if err := p.expansion(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(p.next())
		}
	}
	return b.String(), nil
}

func (p *parser) doubleQuoted(b *strings.Builder) *errBad {
	for {
		if p.eof() {
			return &errBad{"unterminated double quote"}
		}
		c := p.peek()
		switch c {
		case '"':
			p.next()
			return nil
		case '`':
			return &errBad{"backticks run a command; not allowed in an env file"}
		case '\\':
			p.next()
			if p.eof() {
				return &errBad{"unterminated double quote"}
			}
			d := p.next()
			switch d {
			case '$', '`', '"', '\\':
				b.WriteByte(d)
			case '\n': // line continuation
			default:
				b.WriteByte('\\')
				b.WriteByte(d)
			}
		case '$':
			if err := p.expansion(b); err != nil {
				return err
			}
		default:
			b.WriteByte(p.next())
		}
	}
}

// expansion handles $NAME, ${NAME}, ${NAME:-word}, ${NAME-word} and refuses
// command and arithmetic substitution.
func (p *parser) expansion(b *strings.Builder) *errBad {
	line := p.line
	p.next() // $
	switch c := p.peek(); {
	case c == '(':
		return &errBad{"$(…) runs a command; not allowed in an env file (write the value itself)"}
	case c == '{':
		p.next()
		s := p.pos
		for !p.eof() && isNameChar(p.peek()) {
			p.pos++
		}
		name := p.src[s:p.pos]
		if name == "" || !isNameStart(name[0]) {
			return &errBad{"unsupported ${…} expansion (only ${NAME}, ${NAME:-default} and ${NAME-default})"}
		}
		val, set := p.lookup(name)
		switch {
		case p.peek() == '}':
			p.next()
			if !set {
				p.warnf(line, "${%s} is not set; expands to \"\"", name)
			}
			b.WriteString(val)
			return nil
		case strings.HasPrefix(p.src[p.pos:], ":-") || p.peek() == '-':
			colon := p.peek() == ':'
			if colon {
				p.pos += 2
			} else {
				p.pos++
			}
			var def strings.Builder
			for {
				if p.eof() {
					return &errBad{"unterminated ${"}
				}
				c := p.peek()
				if c == '}' {
					p.next()
					break
				}
				switch c {
				case '$':
					if err := p.expansion(&def); err != nil {
						return err
					}
				case '`':
					return &errBad{"backticks run a command; not allowed in an env file"}
				case '"':
					p.next()
					if err := p.doubleQuoted(&def); err != nil {
						return err
					}
				case '\'':
					p.next()
					e := strings.IndexByte(p.src[p.pos:], '\'')
					if e < 0 {
						return &errBad{"unterminated single quote"}
					}
					def.WriteString(p.src[p.pos : p.pos+e])
					for i := 0; i <= e; i++ {
						p.next()
					}
				case '\\':
					p.next()
					if !p.eof() {
						def.WriteByte(p.next())
					}
				default:
					def.WriteByte(p.next())
				}
			}
			if !set || (colon && val == "") {
				val = def.String()
			}
			b.WriteString(val)
			return nil
		default:
			return &errBad{fmt.Sprintf("unsupported ${%s…} expansion (only ${NAME}, ${NAME:-default} and ${NAME-default})", name)}
		}
	case isNameStart(c):
		s := p.pos
		for !p.eof() && isNameChar(p.peek()) {
			p.pos++
		}
		name := p.src[s:p.pos]
		val, set := p.lookup(name)
		if !set {
			p.warnf(line, "$%s is not set; expands to \"\"", name)
		}
		b.WriteString(val)
		return nil
	case c >= '0' && c <= '9', c == '@', c == '*', c == '#', c == '?', c == '!', c == '$', c == '-':
		return &errBad{fmt.Sprintf("special parameter $%c is not supported in an env file", c)}
	default:
		// A lone '$' is literal in bash.
		b.WriteByte('$')
		return nil
	}
}

func (p *parser) lookup(name string) (string, bool) {
	if v, ok := p.f.Vars[name]; ok {
		return v.Value, true
	}
	if p.env != nil {
		return p.env(name)
	}
	return "", false
}

// CrossCheck sources the file with bash (`bash --noprofile --norc`, the
// given environment) and compares every variable of f with bash's value. It
// returns the names that differ (values are not printed: they are often
// secrets), or ok=false when bash is not installed. Call it only on a file
// that Parse accepted: such a file contains assignments only, so sourcing
// it runs nothing.
func CrossCheck(path string, f *File, environ []string) (diff []string, ok bool, err error) {
	bash, lerr := exec.LookPath("bash")
	if lerr != nil {
		return nil, false, nil
	}
	names := append([]string(nil), f.Order...)
	sort.Strings(names)
	var script strings.Builder
	script.WriteString("source \"$1\" >/dev/null || exit 3\n")
	for _, n := range names {
		// Names come from the parser: identifiers only.
		if f.Vars[n].IsArray {
			fmt.Fprintf(&script, "printf '%%s\\0' \"${#%s[@]}\" \"${%s[@]}\"\n", n, n)
		} else {
			fmt.Fprintf(&script, "printf '%%s\\0' \"${%s}\"\n", n)
		}
	}
	cmd := exec.Command(bash, "--noprofile", "--norc", "-c", script.String(), "envfile", path)
	cmd.Env = environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, true, fmt.Errorf("bash could not source %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	fields := strings.Split(string(out), "\x00")
	i := 0
	nextField := func() string {
		if i >= len(fields) {
			return "\x00missing"
		}
		i++
		return fields[i-1]
	}
	for _, n := range names {
		v := f.Vars[n]
		if v.IsArray {
			cnt := nextField()
			want := fmt.Sprint(len(v.Array))
			same := cnt == want
			var got []string
			var k int
			if _, err := fmt.Sscan(cnt, &k); err == nil {
				for j := 0; j < k; j++ {
					got = append(got, nextField())
				}
			}
			if same {
				for j := range v.Array {
					if got[j] != v.Array[j] {
						same = false
					}
				}
			}
			if !same {
				diff = append(diff, n)
			}
			continue
		}
		if nextField() != v.Value {
			diff = append(diff, n)
		}
	}
	return diff, true, nil
}
