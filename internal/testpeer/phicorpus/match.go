package phicorpus

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// The Aho-Corasick matcher of the needles, and their word boundaries.

// acMatcher is an Aho-Corasick automaton over bytes, ASCII
// case-insensitive.
type acMatcher struct {
	pats []pattern
	next [][256]int32
	out  [][]int32
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func newAC(pats []pattern) *acMatcher {
	m := &acMatcher{next: make([][256]int32, 1), out: make([][]int32, 1)}
	for i := range m.next[0] {
		m.next[0][i] = -1
	}
	seen := map[string]bool{}
	for _, p := range pats {
		key := fmt.Sprintf("%d\x00%s\x00%s", p.needle, p.form, p.pat)
		if seen[key] {
			continue
		}
		seen[key] = true
		m.pats = append(m.pats, p)
		pi := int32(len(m.pats) - 1)
		st := int32(0)
		for _, c := range p.pat {
			c = lowerASCII(c)
			if m.next[st][c] < 0 {
				var row [256]int32
				for i := range row {
					row[i] = -1
				}
				m.next = append(m.next, row)
				m.out = append(m.out, nil)
				m.next[st][c] = int32(len(m.next) - 1)
			}
			st = m.next[st][c]
		}
		m.out[st] = append(m.out[st], pi)
	}
	fail := make([]int32, len(m.next))
	var queue []int32
	for c := range 256 {
		if t := m.next[0][c]; t >= 0 {
			queue = append(queue, t)
		} else {
			m.next[0][c] = 0
		}
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		m.out[st] = append(m.out[st], m.out[fail[st]]...)
		for c := range 256 {
			t := m.next[st][c]
			if t >= 0 {
				fail[t] = m.next[fail[st]][c]
				queue = append(queue, t)
			} else {
				m.next[st][c] = m.next[fail[st]][c]
			}
		}
	}
	return m
}

// match is a pattern found at [start, end).
type match struct {
	pat        int
	start, end int
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isASCIIDigit(c byte) bool  { return c >= '0' && c <= '9' }

// unitAt returns the code unit before (dir -1) or after (dir +1) a match
// as an ASCII byte, or 0 when it is none.
func unitAt(data []byte, i, unit int, be bool) (byte, bool) {
	if i < 0 || i+unit > len(data) {
		return 0, false
	}
	if unit == 1 {
		return data[i], true
	}
	hi, lo := data[i+1], data[i]
	if be {
		hi, lo = data[i], data[i+1]
	}
	if hi != 0 {
		return 0, true
	}
	return lo, true
}

func (m *acMatcher) boundOK(p *pattern, data []byte, start, end int) bool {
	if p.bound == boundNone {
		return true
	}
	bad := isASCIILetter
	switch p.bound {
	case boundDigit, boundDigitBefore:
		bad = isASCIIDigit
	case boundAlnum:
		bad = func(c byte) bool { return isASCIILetter(c) || isASCIIDigit(c) }
	}
	if c, ok := unitAt(data, start-p.unit, p.unit, p.be); ok && bad(c) {
		return false
	}
	if c, ok := unitAt(data, end, p.unit, p.be); ok && bad(c) && p.bound != boundDigitBefore {
		return false
	}
	return true
}

// find returns every match in data (each pattern once per position).
func (m *acMatcher) find(data []byte) []match {
	var out []match
	st := int32(0)
	for i, c := range data {
		st = m.next[st][lowerASCII(c)]
		for _, pi := range m.out[st] {
			p := &m.pats[pi]
			start := i + 1 - len(p.pat)
			if m.boundOK(p, data, start, i+1) {
				out = append(out, match{pat: int(pi), start: start, end: i + 1})
			}
		}
	}
	return out
}

// foldedText is a folded decoding of a haystack with, for each byte of the
// folded text, the offset of the source rune in the decoded string.
type foldedText struct {
	text []byte
	src  []int32
}

func foldWithMap(s string, c foldCache) foldedText {
	ft := foldedText{text: make([]byte, 0, len(s)), src: make([]int32, 0, len(s))}
	for i, r := range s {
		f := c.foldRune(r)
		if f == "" {
			continue
		}
		for j := 0; j < len(f); j++ {
			ft.text = append(ft.text, f[j])
			ft.src = append(ft.src, int32(i))
		}
	}
	return ft
}

// foldedBoundOK checks word boundaries on folded text (runes, not bytes:
// the neighbour may be a non-ASCII letter).
func foldedBoundOK(p *pattern, text []byte, start, end int) bool {
	if p.bound == boundNone {
		return true
	}
	bad := func(r rune) bool { return unicode.IsLetter(r) && r < 0x2E80 }
	switch p.bound {
	case boundDigit, boundDigitBefore:
		bad = func(r rune) bool { return r >= '0' && r <= '9' }
	case boundAlnum:
		bad = func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	}
	if start > 0 {
		r, _ := utf8.DecodeLastRune(text[:start])
		if bad(r) {
			return false
		}
	}
	if end < len(text) && p.bound != boundDigitBefore {
		r, _ := utf8.DecodeRune(text[end:])
		if bad(r) {
			return false
		}
	}
	return true
}
