package config

// The strict decoder: a YAML node tree into the configuration types, every
// unknown or repeated field and every value of the wrong type collected as
// a problem with its line, and the nearest known name suggested.

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder decodes a node tree into the configuration types strictly,
// collecting a problem for every unknown or repeated field and every value
// of the wrong type instead of stopping at the first.
type decoder struct {
	file  string
	probs []Problem
}

func (d *decoder) add(line int, field, msg, fix string) {
	if field == "" {
		field = "(file)"
	}
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Field: field, Msg: msg, Fix: fix})
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[Duration]()
)

// yaml11Bools are the YAML 1.1 spellings of booleans that YAML 1.2 reads
// as strings (and some tools as booleans).
var yaml11Bools = map[string]bool{"y": true, "yes": true, "on": true, "n": true, "no": true, "off": true}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of fields"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// value decodes n into v; path names it, line is its key's line.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch v.Type() {
	case sizeType, durationType:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.add(line, path, fmt.Sprintf("is %s, not a %s", kindName(n), map[reflect.Type]string{sizeType: "size", durationType: "duration"}[v.Type()]),
				map[reflect.Type]string{sizeType: sizeFix, durationType: durationFix}[v.Type()])
			return
		}
		if v.Type() == sizeType {
			s, err := parseSize(n.Value)
			if err != nil {
				d.add(line, path, err.Error(), sizeFix)
				return
			}
			v.SetInt(int64(s))
			return
		}
		du, err := parseDuration(n.Value)
		if err != nil {
			d.add(line, path, err.Error(), durationFix)
			return
		}
		v.SetInt(int64(du))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path, line)
	case reflect.Struct:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.add(line, path, fmt.Sprintf("is %s, not a section of fields", kindName(n)), "indent its fields under it, one `name: value` per line")
			return
		}
		d.fields(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.add(line, path, fmt.Sprintf("is %s, not a text value", kindName(n)), "write a single value")
			return
		}
		if !isNull(n) {
			v.SetString(n.Value)
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.add(line, path, fmt.Sprintf("is %s, not a whole number", kindName(n)), "write a number such as 8")
			return
		}
		var i int
		if err := n.Decode(&i); err != nil {
			d.add(line, path, fmt.Sprintf("%q is out of range", n.Value), "write a smaller number")
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		switch {
		case n.Kind == yaml.ScalarNode && yaml11Bools[strings.ToLower(n.Value)]:
			d.add(line, path, fmt.Sprintf("%q is a YAML 1.1 boolean, which YAML 1.2 tools read as text", n.Value), "write true or false")
		case n.Kind != yaml.ScalarNode || quoted || n.ShortTag() != "!!bool":
			d.add(line, path, fmt.Sprintf("is %s, not true or false", kindName(n)), "write true or false, unquoted")
		default:
			v.SetBool(strings.EqualFold(n.Value, "true"))
		}
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.add(line, path, fmt.Sprintf("is %s, not a list", kindName(n)), "write a list: [a, b] or one `- a` per line")
			return
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, out.Index(i), fmt.Sprintf("%s[%d]", path, i), c.Line)
		}
		v.Set(out)
	default:
		d.add(line, path, "cannot be decoded", "")
	}
}

// fields decodes a mapping into a struct.
func (d *decoder) fields(n *yaml.Node, v reflect.Value, path string) {
	byTag := map[string]int{}
	var names []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if f.IsExported() && tag != "" && tag != "-" {
			byTag[tag] = i
			names = append(names, tag)
		}
	}
	seen := map[string]int{}
	// Merge keys (<<: *anchor) first, so that the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.ShortTag() == "!!merge" {
			m := n.Content[i+1]
			for m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			if m.Kind != yaml.MappingNode {
				d.add(k.Line, path, "merges something that is not a section", "merge an anchored section (<<: *name)")
				continue
			}
			d.fields(m, v, path)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, p, fmt.Sprintf("appears twice (first on line %d)", first), "keep one of them")
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := byTag[k.Value]
		if !ok {
			fix := "remove it or check its spelling and indentation"
			if s := closest(k.Value, names); s != "" {
				fix = fmt.Sprintf("did you mean %s? (or check the indentation)", s)
			} else if s := nested(v.Type(), k.Value, path); s != "" {
				fix = fmt.Sprintf("indent it under its section: %s", s)
			}
			d.add(k.Line, p, "unknown field", fix)
			continue
		}
		d.value(val, v.Field(idx), p, k.Line)
	}
}

// nested finds a field named name (case-insensitive) in the sections
// below t and returns its full path, or "".
func nested(t reflect.Type, name, path string) string {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct || ft == sizeType || ft == durationType {
			continue
		}
		p := tag
		if path != "" {
			p = path + "." + tag
		}
		for j := range ft.NumField() {
			if strings.EqualFold(strings.Split(ft.Field(j).Tag.Get("yaml"), ",")[0], name) {
				return p + "." + strings.Split(ft.Field(j).Tag.Get("yaml"), ",")[0]
			}
		}
		if s := nested(ft, name, p); s != "" {
			return s
		}
	}
	return ""
}

// Closest returns the name nearest to s (case-insensitive edit distance
// at most 2), or "": the commands' "did you mean" uses it too.
func Closest(s string, names []string) string { return closest(s, names) }

// closest returns the name nearest to s (case-insensitive edit distance
// at most 2), or "".
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dist := editDistance(strings.ToLower(s), strings.ToLower(n)); dist < bestD {
			best, bestD = n, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}
