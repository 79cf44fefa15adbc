package deid

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

// TagPath addresses elements in a data set (docs/deid.md, "Tag paths"): a keyword or a
// tag in any of the usual spellings, nested with `Seq[i].Child` (`[*]` for
// every item), private elements as `(gggg,{Creator}ee)`, and the `**.`
// prefix for "at any depth".
type TagPath struct {
	raw      string
	anyDepth bool
	steps    []pathStep
}

type pathStep struct {
	tag     dicom.Tag // public tag; for private steps the group and the element byte
	private bool
	creator string // private creator, trailing spaces trimmed
	item    int    // item index for a sequence step; -1 = any
}

// String returns the path as written in the profile.
func (p TagPath) String() string { return p.raw }

// Canonical returns a normalised spelling (hex tags, explicit [*]) used to
// detect two spellings of one path.
func (p TagPath) Canonical() string {
	var b strings.Builder
	if p.anyDepth {
		b.WriteString("**.")
	}
	for i, s := range p.steps {
		if i > 0 {
			b.WriteByte('.')
		}
		if s.private {
			fmt.Fprintf(&b, "(%04X,{%s}%02X)", s.tag.Group(), s.creator, s.tag.Element()&0xFF)
		} else {
			b.WriteString(s.tag.String())
		}
		if i < len(p.steps)-1 {
			if s.item < 0 {
				b.WriteString("[*]")
			} else {
				fmt.Fprintf(&b, "[%d]", s.item)
			}
		}
	}
	return b.String()
}

// Leaf returns the last step's tag and whether it is private.
func (p TagPath) leaf() pathStep { return p.steps[len(p.steps)-1] }

// topLevel reports whether the path names a top-level element.
func (p TagPath) topLevel() bool { return !p.anyDepth && len(p.steps) == 1 }

// ParseTagPath parses one tag path.
func ParseTagPath(s string) (TagPath, error) {
	p := TagPath{raw: s}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return p, fmt.Errorf("empty tag path")
	}
	if strings.HasPrefix(rest, "**.") {
		p.anyDepth = true
		rest = rest[3:]
	}
	segs, err := splitPath(rest)
	if err != nil {
		return p, err
	}
	for i, seg := range segs {
		st, err := parseStep(seg, i == len(segs)-1)
		if err != nil {
			return p, fmt.Errorf("tag path %q: %w", s, err)
		}
		p.steps = append(p.steps, st)
	}
	return p, nil
}

// splitPath splits on dots outside parentheses and braces.
func splitPath(s string) ([]string, error) {
	var out []string
	depthP, depthB := 0, 0
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depthP++
		case ')':
			depthP--
		case '{':
			depthB++
		case '}':
			depthB--
		case '.':
			if depthP == 0 && depthB == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
		if depthP < 0 || depthB < 0 {
			return nil, fmt.Errorf("tag path %q: unbalanced brackets", s)
		}
	}
	if depthP != 0 || depthB != 0 {
		return nil, fmt.Errorf("tag path %q: unbalanced brackets", s)
	}
	out = append(out, s[start:])
	for _, seg := range out {
		if seg == "" {
			return nil, fmt.Errorf("tag path %q: empty step", s)
		}
	}
	return out, nil
}

func parseStep(seg string, leaf bool) (pathStep, error) {
	st := pathStep{item: -1}
	name := seg
	if strings.HasSuffix(seg, "]") {
		open := strings.LastIndexByte(seg, '[')
		if open < 0 {
			return st, fmt.Errorf("step %q: ']' without '['", seg)
		}
		idx := seg[open+1 : len(seg)-1]
		name = seg[:open]
		if leaf {
			return st, fmt.Errorf("step %q: the last step names an element, not an item (drop %q)", seg, seg[open:])
		}
		if idx != "*" {
			n, err := strconv.Atoi(idx)
			if err != nil || n < 0 {
				return st, fmt.Errorf("step %q: item index must be a number ≥ 0 or *", seg)
			}
			st.item = n
		}
	}
	// Private: (gggg,{Creator}ee)
	if strings.Contains(name, "{") {
		inner := strings.TrimSuffix(strings.TrimPrefix(name, "("), ")")
		comma := strings.IndexByte(inner, ',')
		lb, rb := strings.IndexByte(inner, '{'), strings.LastIndexByte(inner, '}')
		if comma != 4 || lb != 5 || rb < lb {
			return st, fmt.Errorf("step %q: private elements are written (gggg,{Creator}ee)", seg)
		}
		g, err := strconv.ParseUint(inner[:4], 16, 16)
		if err != nil || g%2 == 0 {
			return st, fmt.Errorf("step %q: private group must be odd hex gggg", seg)
		}
		e, err := strconv.ParseUint(inner[rb+1:], 16, 8)
		if err != nil || len(inner[rb+1:]) != 2 {
			return st, fmt.Errorf("step %q: private element byte must be two hex digits after the creator", seg)
		}
		creator := strings.TrimRight(inner[lb+1:rb], " ")
		if creator == "" {
			return st, fmt.Errorf("step %q: empty private creator", seg)
		}
		st.private, st.creator = true, creator
		st.tag = dicom.NewTag(uint16(g), uint16(e))
		return st, nil
	}
	var t dicom.Tag
	if e, ok := dicom.LookupKeyword(name); ok {
		t = e.Tag
	} else if tt, ok := parseHexTag(name); ok {
		t = tt
	} else {
		return st, fmt.Errorf("step %q: not a DICOM keyword or tag (keywords are case-sensitive, e.g. PatientName; tags gggg,eeee)", seg)
	}
	if t.IsPrivate() {
		return st, fmt.Errorf("step %q: private tags must name their creator, e.g. (%04X,{CREATOR}%02X); fixed block numbers are not allowed", seg, t.Group(), t.Element()&0xFF)
	}
	st.tag = t
	return st, nil
}

func parseHexTag(s string) (dicom.Tag, bool) {
	x := strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	x = strings.NewReplacer(",", "", "-", "", "|", "").Replace(x)
	if len(x) != 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(x, 16, 32)
	if err != nil {
		return 0, false
	}
	return dicom.Tag(v), true
}

// locStep is one level of an element's location: the element's tag, the
// live private creator of its block (private elements only) and, for the
// sequences on the way down, the item index.
type locStep struct {
	tag     dicom.Tag
	creator string
	item    int
}

// match reports whether the path addresses the element at loc (the last
// step of loc is the element itself).
func (p TagPath) match(loc []locStep) bool {
	n := len(p.steps)
	if n > len(loc) || (!p.anyDepth && n != len(loc)) {
		return false
	}
	off := len(loc) - n
	for i, s := range p.steps {
		l := loc[off+i]
		if s.private {
			if l.tag.Group() != s.tag.Group() || l.tag.Element() < 0x1000 || l.tag.Element()&0xFF != s.tag.Element() || l.creator != s.creator {
				return false
			}
		} else if l.tag != s.tag {
			return false
		}
		if i < n-1 && s.item >= 0 && s.item != l.item {
			return false
		}
	}
	return true
}

// formatLoc renders a location with tags only (no values), item indices
// included: used in reports and quarantine reasons.
func formatLoc(loc []locStep, collapseItems bool) string {
	b := make([]byte, 0, 16*len(loc))
	for i, l := range loc {
		if i > 0 {
			b = append(b, '.')
		}
		b = appendTag(b, l.tag)
		if i < len(loc)-1 {
			if collapseItems {
				b = append(b, "[*]"...)
			} else {
				b = append(b, '[')
				b = strconv.AppendInt(b, int64(l.item), 10)
				b = append(b, ']')
			}
		}
	}
	return string(b)
}

const hexDigits = "0123456789ABCDEF"

// appendTag appends "(GGGG,EEEE)" (as dicom.Tag.String, without fmt).
func appendTag(b []byte, t dicom.Tag) []byte {
	v := uint32(t)
	b = append(b, '(')
	for i := 28; i >= 16; i -= 4 {
		b = append(b, hexDigits[(v>>uint(i))&0xF])
	}
	b = append(b, ',')
	for i := 12; i >= 0; i -= 4 {
		b = append(b, hexDigits[(v>>uint(i))&0xF])
	}
	return append(b, ')')
}
