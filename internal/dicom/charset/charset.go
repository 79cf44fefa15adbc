package charset

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// A term is one Defined Term of Specific Character Set: the sets it
// designates into G0 and G1, or a stand-alone encoding.
type term struct {
	name string   // the Defined Term as it should be written
	g0   *graphic // nil: the term does not designate G0
	g1   *graphic // nil: the term does not designate G1
	ext  bool     // an "ISO 2022" (code extension) term
	solo *solo    // ISO_IR 192, GB18030, GBK
}

func (t *term) multiByte() bool {
	return (t.g0 != nil && t.g0.double) || (t.g1 != nil && t.g1.double)
}

var (
	termDefault = &term{name: "ISO_IR 6", g0: gASCII}
	// termImplicit6 stands for an empty value 1 of a multi-valued set,
	// which means ISO 2022 IR 6 (PS3.3 C.12.1.1.2).
	termImplicit6 = &term{name: "", g0: gASCII, ext: true}
)

var terms = func() map[string]*term {
	m := map[string]*term{}
	add := func(t *term) { m[t.name] = t }
	add(termDefault)
	add(&term{name: "ISO 2022 IR 6", g0: gASCII, ext: true})
	for _, s := range []struct {
		ir string
		g  *graphic
	}{
		{"100", gLatin1}, {"101", gLatin2}, {"109", gLatin3}, {"110", gLatin4},
		{"144", gCyrillic}, {"127", gArabic}, {"126", gGreek}, {"138", gHebrew},
		{"148", gLatin5}, {"203", gLatin9}, {"166", gThai},
	} {
		add(&term{name: "ISO_IR " + s.ir, g0: gASCII, g1: s.g})
		add(&term{name: "ISO 2022 IR " + s.ir, g0: gASCII, g1: s.g, ext: true})
	}
	add(&term{name: "ISO_IR 13", g0: gJISRoman, g1: gKatakana})
	add(&term{name: "ISO 2022 IR 13", g0: gJISRoman, g1: gKatakana, ext: true})
	add(&term{name: "ISO 2022 IR 87", g0: gJIS0208, ext: true})
	add(&term{name: "ISO 2022 IR 159", g0: gJIS0212, ext: true})
	add(&term{name: "ISO 2022 IR 149", g1: gKSX1001, ext: true})
	add(&term{name: "ISO 2022 IR 58", g1: gGB2312, ext: true})
	add(&term{name: "ISO_IR 192", solo: soloUTF8})
	add(&term{name: "GB18030", solo: soloGB18030})
	add(&term{name: "GBK", solo: soloGBK})
	return m
}()

// looseKey folds the spelling variants seen in the wild ("ISO IR 100",
// "ISO-IR 100", "iso_ir 100", "ISO2022 IR 87") onto one key.
func looseKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-':
			return -1
		}
		return r
	}, strings.ToUpper(s))
}

var looseTerms = func() map[string]*term {
	m := map[string]*term{}
	for _, t := range terms {
		m[looseKey(t.name)] = t
	}
	return m
}()

// Set is a parsed Specific Character Set value (the backslash-separated
// defined terms). The zero Set is the default repertoire. A Set is
// immutable and safe for concurrent use.
type Set struct {
	terms []*term // nil: default repertoire
}

// A TermError reports a problem with one value of Specific Character Set.
// Parse still returns a usable Set alongside it.
type TermError struct {
	Term   string // the value as written
	Reason string
}

func (e *TermError) Error() string {
	return fmt.Sprintf("charset: Specific Character Set term %q: %s", e.Term, e.Reason)
}

// Parse parses the raw value of (0008,0005) (e.g.
// "ISO 2022 IR 13\\ISO 2022 IR 87", "ISO_IR 192", "" = default repertoire).
// Unknown terms give an error that names the term; the returned Set is
// still usable with the known terms (callers may decide to fall back).
//
// Other deviations are reported the same way, as *TermError values joined
// with errors.Join, and repaired: a misspelt term ("ISO IR 100") is read as
// the term it resembles; a stand-alone term (ISO_IR 192, GB18030, GBK) in
// a multi-valued set wins if it is value 1 and is dropped otherwise; a
// multi-byte term as value 1 gets ISO 2022 IR 6 put in front of it; a term
// without the "ISO 2022" prefix in a multi-valued set is used as its
// code-extension form. Empty values after the first and duplicates are
// dropped silently, as are surrounding spaces and NUL padding.
func Parse(value string) (Set, error) {
	if v, ok := parsed.Load(value); ok {
		return v.(Set), nil
	}
	set, err := parse(value)
	if err == nil && parsedCount.Load() < parsedMax {
		if _, loaded := parsed.LoadOrStore(value, set); !loaded {
			parsedCount.Add(1)
		}
	}
	return set, err
}

// parsed caches the Sets of values that parsed without a deviation (a
// handful in any archive: every data set names its character set, and
// de-identification asks for it per text element); parsedMax bounds it
// against a sender that makes up a new value each time. A Set is never
// modified after Parse.
var (
	parsed      sync.Map // string -> Set
	parsedCount atomic.Int32
)

const parsedMax = 256

func parse(value string) (Set, error) {
	raw := strings.Split(value, `\`)
	multi := len(raw) > 1
	var (
		errs []error
		ts   []*term
		seen = map[*term]bool{}
	)
	fail := func(v, format string, args ...any) {
		errs = append(errs, &TermError{Term: v, Reason: fmt.Sprintf(format, args...)})
	}
	for i, v := range raw {
		v = strings.Trim(v, " \x00")
		var t *term
		switch {
		case v == "" && i == 0:
			if !multi {
				return Set{}, nil
			}
			t = termImplicit6
		case v == "":
			continue
		case terms[v] != nil:
			t = terms[v]
		case looseTerms[looseKey(v)] != nil:
			t = looseTerms[looseKey(v)]
			fail(v, "not a Defined Term; read as %q", t.name)
		default:
			fail(v, "unknown Defined Term")
			continue
		}
		if multi && !t.ext && t.solo == nil {
			if t2 := terms["ISO 2022 IR "+strings.TrimPrefix(t.name, "ISO_IR ")]; t2 != nil {
				fail(v, "a multi-valued Specific Character Set needs the code extension term %q", t2.name)
				t = t2
			}
		}
		if seen[t] || (t.name == "ISO 2022 IR 6" && seen[termImplicit6]) {
			continue
		}
		seen[t] = true
		ts = append(ts, t)
	}

	// Stand-alone sets exclude code extensions (PS3.5 6.1.2.5.4, PS3.3
	// Table C.12-5).
	if len(ts) > 1 {
		if ts[0].solo != nil {
			for _, t := range ts[1:] {
				fail(t.name, "ignored: %s does not allow code extensions", ts[0].name)
			}
			ts = ts[:1]
		} else {
			kept := ts[:1]
			for _, t := range ts[1:] {
				if t.solo != nil {
					fail(t.name, "ignored: it cannot be used with code extensions")
					continue
				}
				kept = append(kept, t)
			}
			ts = kept
		}
	}
	// Multi-byte sets are for values 2 to n (PS3.3 Table C.12-4); value 1
	// must provide the ASCII G0 the delimiters are written in.
	if len(ts) > 0 && ts[0].multiByte() {
		fail(ts[0].name, "may not be value 1; assuming ISO 2022 IR 6 before it")
		ts = append([]*term{termImplicit6}, ts...)
	}
	if len(ts) == 1 && (ts[0] == termDefault || ts[0] == termImplicit6) {
		ts = nil
	}
	return Set{terms: ts}, errors.Join(errs...)
}

// MustParse is like Parse but panics on any error. It is meant for
// constant values in tests and tables.
func MustParse(value string) Set {
	s, err := Parse(value)
	if err != nil {
		panic(err)
	}
	return s
}

func (s Set) list() []*term {
	if len(s.terms) == 0 {
		return []*term{termDefault}
	}
	return s.terms
}

// IsDefault reports whether the set is the default repertoire (ISO-IR 6)
// only.
func (s Set) IsDefault() bool {
	for _, t := range s.list() {
		if t.g0 != gASCII || t.g1 != nil || t.solo != nil {
			return false
		}
	}
	return true
}

// String returns the set as a value for (0008,0005), with the Defined
// Terms spelt correctly; the default repertoire is "".
func (s Set) String() string {
	if len(s.terms) == 0 {
		return ""
	}
	names := make([]string, len(s.terms))
	for i, t := range s.terms {
		names[i] = t.name
	}
	return strings.Join(names, `\`)
}

// name is String for messages.
func (s Set) name() string {
	if v := s.String(); v != "" {
		return v
	}
	return "the default repertoire"
}

// state is the pair of sets designated into G0 and G1.
type state struct{ g0, g1 *graphic }

// initial is the state that value 1 sets up (PS3.5 6.1.2.5.1).
func (s Set) initial() state {
	t := s.list()[0]
	st := state{g0: t.g0, g1: t.g1}
	if st.g0 == nil {
		st.g0 = gASCII
	}
	return st
}

// soloCodec returns the stand-alone encoding, if the set is one.
func (s Set) soloCodec() *solo {
	if len(s.terms) == 1 {
		return s.terms[0].solo
	}
	return nil
}
