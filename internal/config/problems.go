package config

import (
	"errors"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The helpers below are shared by the validators of the configuration
// file (this package) and of the fleet file (internal/fleet), so that both
// name problems the same way.

// AddFunc reports a problem with a field (a dotted path such as
// edge.s3.endpoint): what is wrong and how to fix it.
type AddFunc func(field, msg, fix string)

// SetDefault sets *p to v when *p is empty.
func SetDefault(p *string, v string) { setStr(p, v) }

// ParentField strips the last component of a dotted path (sites[1].name
// gives sites[1], then sites); "" at the top.
func ParentField(f string) string { return parentField(f) }

// LineOf returns the line of field in lines (from FieldLines) or, when the
// file does not set it, of the nearest field that contains it; 0 if none.
func LineOf(lines map[string]int, field string) int {
	for f := field; f != ""; f = parentField(f) {
		if l, ok := lines[f]; ok {
			return l
		}
	}
	return 0
}

// YAMLProblems turns an error of the YAML decoder into problems with the
// line it names: a syntax error, or each of a *yaml.TypeError's messages
// (an unknown field, with strict decoding, is named as a field).
func YAMLProblems(name string, err error) []Problem {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	fix := "correct the YAML syntax"
	if errors.As(err, &te) {
		msgs, fix = te.Errors, ""
	}
	var out []Problem
	for _, m := range msgs {
		p := Problem{File: name, Field: "(yaml)", Msg: strings.TrimPrefix(m, "yaml: "), Fix: fix}
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
			if f := yamlFieldRE.FindStringSubmatch(sm[2]); f != nil {
				p.Field = f[1]
				typ := f[2]
				if i := strings.LastIndexByte(typ, '.'); i >= 0 {
					typ = typ[i+1:] // the Go package is no concern of the reader's
				}
				p.Msg = "unknown field in " + typ
				p.Fix = "remove it or check its spelling and indentation"
			}
		}
		out = append(out, p)
	}
	return out
}
