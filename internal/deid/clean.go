package deid

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Cleaning (docs/deid.md, "Cleaning"): the C action on text, dates and numbers.

// clean implements C (docs/deid.md, "Cleaning"). ok is false when the element was
// removed instead.
func (s *state) clean(ds *dicom.Dataset, e *dicom.Element, vr dicom.VR, loc []locStep, a action) (bool, error) {
	t := e.Tag
	switch vr {
	case dicom.DA, dicom.DT:
		switch {
		case s.shift:
			s.shiftElement(ds, e, loc)
		case s.opts.Has(OptRetainLongitudinalFullDates):
		default:
			ds.Delete(t)
			s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (no date option)")
			return false, nil
		}
		return true, nil
	case dicom.TM:
		if !s.shift && !s.opts.Has(OptRetainLongitudinalFullDates) {
			ds.Delete(t)
			s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (no date option)")
			return false, nil
		}
		return true, nil
	case dicom.UI:
		if s.opts.Has(OptRetainUIDs) {
			for _, u := range e.Strings() {
				s.retained[u] = true
			}
			return true, nil
		}
		s.remapElement(ds, e)
		return true, nil
	case dicom.AE:
		vals := e.Strings()
		for i, v := range vals {
			if v != "" {
				vals[i] = s.e.keys.AETitle(v)
				s.safeStr = append(s.safeStr, vals[i])
			}
		}
		ds.SetString(t, dicom.AE, vals...)
		return true, nil
	case dicom.PN:
		ds.SetString(t, dicom.PN, "ANONYMIZED")
		return true, nil
	case dicom.SH, dicom.LO, dicom.ST, dicom.LT, dicom.UT, dicom.UC, dicom.CS:
		vals := texts(ds, t)
		removed := 0
		narrative := vr == dicom.LT || vr == dicom.ST || vr == dicom.UT
		codeMeaning := t == tagCodeMeaning && a.kind == akSR
		orig := append([]string(nil), vals...)
		for i, v := range vals {
			var out string
			var n int
			if codeMeaning {
				// The meaning of a code of a registered scheme is the
				// scheme's own wording ("Length Unit", "Left Ventricle"):
				// identifiers, titled names, dates and numbers are still
				// removed, capitalised pairs are not taken for names.
				out, n = s.cleanTextWith(v, cleanOptions{})
				if out == "" {
					out = ds.String(tagCodeValue) // Type 1: the code stands for itself
				}
			} else {
				out, n = s.cleanTextWith(v, cleanOptions{narrative: narrative, namePairs: true})
			}
			if out == "" && v != "" && vr != dicom.CS {
				// Emptied by cleaning: the module may require a value
				// (Manufacturer, a content item's text, an algorithm name).
				out = "ANONYMIZED"
			}
			vals[i] = out
			removed += n
		}
		if vr == dicom.CS {
			// A code string emptied by cleaning is dropped from the values
			// (Image Type keeps ORIGINAL\PRIMARY without a planted fifth
			// value); an element left with none is removed.
			kept := vals[:0]
			for i, v := range vals {
				if v = strings.ToUpper(v); v != "" || orig[i] == "" {
					kept = append(kept, v)
				}
			}
			if len(kept) == 0 && removed > 0 {
				ds.Delete(t)
				s.report.add(formatLoc(loc, !s.explain), "X", a.rule+" (emptied by cleaning)")
				return false, nil
			}
			vals = kept
		}
		if err := ds.SetText(t, vr, vals...); err != nil {
			e.SetBytes(nil)
		}
		if removed > 0 {
			s.report.warn("text-cleaned", formatLoc(loc, true), fmt.Sprintf("%d match(es) removed", removed))
		}
		return true, nil
	}
	// Numbers, binary values: nothing to clean; the gate checks them.
	return true, nil
}

// cleanText deletes deny-list matches, dates, phone numbers, e-mail
// addresses and long numbers from free text, then collapses white space.
// In narrative text (LT, ST, UT: mixed case prose) it also deletes every
// capitalised word that does not start a sentence: names of people the
// input does not list (relatives, staff) are proper nouns, and nothing
// else can find them. It returns the count of deletions (reported, never
// the text).
func (s *state) cleanText(v string, narrative bool) (string, int) {
	return s.cleanTextWith(v, cleanOptions{narrative: narrative, namePairs: true})
}

// digitsInText describes the digits of a text, for the necessary
// conditions of the cleaning patterns.
type digitsInText struct {
	total    int // digits
	run      int // longest run of digits
	phoneRun int // longest run of digits, spaces and ( ) . -
}

func digitShape(v string) digitsInText {
	var d digitsInText
	run, prun := 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			d.total++
			run++
			prun++
		case c == ' ' || c == '(' || c == ')' || c == '.' || c == '-':
			run = 0
			prun++
		default:
			run, prun = 0, 0
		}
		d.run, d.phoneRun = max(d.run, run), max(d.phoneRun, prun)
	}
	return d
}

// mayMatch is false when re cannot match v: an e-mail address needs '@';
// a date, postcode or phone number at least two digits (a date with
// separators three); a month-name date a run of two; a phone number eight
// characters of digits and separators; a long number a run of six.
func (d digitsInText) mayMatch(re *regexp.Regexp, v string) bool {
	switch re {
	case cleanEmailRE:
		return strings.IndexByte(v, '@') >= 0
	case cleanMonthDateRE:
		return d.run >= 2
	case cleanDateRE:
		return d.total >= 3
	case cleanPostcodeRE:
		return d.total >= 2
	case cleanPhoneRE:
		return d.total >= 2 && d.phoneRun >= 8
	case cleanNumberRE:
		return d.run >= 6
	}
	return true
}

// cleanOptions select the rules of cleanTextWith beyond identifiers,
// dates, phone numbers, e-mail addresses and long numbers.
type cleanOptions struct {
	narrative bool // prose: every capitalised word that does not start a sentence
	namePairs bool // two capitalised non-vocabulary words in a row
}

func (s *state) cleanTextWith(v string, o cleanOptions) (string, int) {
	narrative := o.narrative
	n := 0
	v = stripFormat(v)
	// Most descriptors cannot hold what a pattern needs (see
	// digitShape) and skip its regular expression.
	ds := digitShape(v)
	for _, re := range []*regexp.Regexp{cleanEmailRE, cleanMonthDateRE, cleanDateRE, cleanPostcodeRE, cleanPhoneRE, cleanNumberRE} {
		if !ds.mayMatch(re, v) {
			continue
		}
		before := n
		v = re.ReplaceAllStringFunc(v, func(m string) string {
			if re == cleanDateRE && !looksLikeDate(m) {
				return m // a version number (3.2.2, 5.00.02), not a date
			}
			n++
			return " "
		})
		if n != before {
			ds = digitShape(v) // a match became a space: runs may join
		}
	}
	words := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	drop := make([]bool, len(words))
	n += dropNameShapes(words, drop, o.namePairs)
	if s.p.Descriptors == "strict" {
		n += dropOutsideVocabulary(words, drop)
	}
	sq := make([]string, len(words))
	for i, w := range words {
		sq[i], _ = canonicalFast(w)
	}
	for i := range words {
		if drop[i] || sq[i] == "" {
			continue
		}
		if _, ok := s.deny.whole[sq[i]]; ok {
			drop[i] = true
			n++
			continue
		}
		// The shortest run of words starting here that holds a token
		// overlapping this word.
		run := ""
		for j := i; j < len(words) && j < i+6; j++ {
			run += sq[j]
			hit := false
			for _, t := range s.deny.tokens {
				switch t.kind {
				case tkUID:
					continue
				case tkComponent:
					if utf8.RuneCountInString(t.squashed) >= 5 {
						hit = inRun(run, t.squashed, i == j, len(sq[i]))
					} else {
						hit = run == t.squashed
					}
				default:
					hit = inRun(run, t.squashed, i == j, len(sq[i]))
				}
				if hit {
					break
				}
			}
			if hit {
				for k := i; k <= j; k++ {
					drop[k] = true
				}
				n++
				break
			}
		}
	}
	if narrative && strings.ToUpper(v) != v {
		start := true
		for i, w := range words {
			r := []rune(w)
			if !start && len(r) > 0 && unicode.IsUpper(r[0]) && !drop[i] {
				drop[i] = true
				n++
			}
			start = strings.ContainsAny(w[len(w)-1:], ".!?:;")
		}
	}
	var keep []string
	for i, w := range words {
		if !drop[i] {
			keep = append(keep, w)
		}
	}
	v = strings.Join(keep, " ")
	v = strings.TrimSpace(cleanSpaceRE.ReplaceAllString(v, " "))
	return v, n
}

// inRun reports whether tok occurs in the squashed run of words: anywhere
// in a single word, or starting at the first word of a longer run (a
// token spanning words starts at a word).
func inRun(run, tok string, single bool, firstLen int) bool {
	if single {
		return strings.Contains(run, tok)
	}
	return strings.HasPrefix(run, tok) && len(tok) > firstLen
}
