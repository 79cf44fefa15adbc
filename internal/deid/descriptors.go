package deid

import (
	"bufio"
	_ "embed"
	"strings"
	"unicode"

	"github.com/aisedge/aisedge/internal/dicom"
)

// vocabulary.txt holds the words of acquisition, protocol and anatomy
// descriptors (docs/deid.md, "Clean Descriptors").
//
//go:embed vocabulary.txt
var vocabularyTXT string

// vocabulary holds the words of vocabulary.txt and every word of the
// names of the DICOM data dictionary and UID registry ("Source", "Lossy",
// "Compression", "Reconstruction"...): the standard's own technical
// English, which descriptors and code meanings are written in.
var vocabulary = func() map[string]bool {
	m := map[string]bool{}
	addNameWords := func(name string) {
		for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r < 'a' || r > 'z' }) {
			if len(w) >= 3 && !shortSurnames[w] {
				m[w] = true
			}
		}
	}
	dicom.EachEntry(func(e dicom.DictEntry) { addNameWords(e.Name) })
	dicom.EachUID(func(e dicom.UIDEntry) { addNameWords(e.Name) })
	sc := bufio.NewScanner(strings.NewReader(vocabularyTXT))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, w := range strings.Fields(line) {
			m[strings.ToLower(w)] = true
		}
	}
	return m
}()

// personTitles introduce a person's name in several languages.
var personTitles = map[string]bool{
	"dr": true, "drs": true, "doctor": true, "mrs": true, "miss": true, "mx": true,
	"prof": true, "professor": true, "sir": true, "dame": true, "lady": true, "lord": true, "rev": true,
	"herr": true, "frau": true, "mme": true, "mlle": true, "monsieur": true, "madame": true,
	"sra": true, "srta": true, "dott": true, "dottssa": true, "dra": true,
}

// wordPieces splits a descriptor word at its separators (T1_MPRAGE_SAG →
// t1 mprage sag), lower-cased.
func wordPieces(w string) []string {
	return strings.FieldsFunc(strings.ToLower(w), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// lettersOnly strips punctuation around a word ("Dr." → "Dr", "(Smith)" →
// "Smith").
func lettersOnly(w string) string {
	return strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) })
}

func isVocabulary(w string) bool {
	ps := wordPieces(w)
	if len(ps) == 0 {
		return true // punctuation or numbers only
	}
	for _, p := range ps {
		if !vocabulary[p] && !isShortCode(p) {
			return false
		}
	}
	return true
}

// isShortCode accepts numbers and short letter-digit codes (b1000, 3t,
// t2, 20ch) that carry acquisition parameters, not names.
func isShortCode(p string) bool {
	digits, letters := 0, 0
	for _, r := range p {
		switch {
		case unicode.IsDigit(r):
			digits++
		case r < 0x80 && unicode.IsLetter(r):
			letters++
		default:
			return false
		}
	}
	return digits > 0 && letters <= 3 && len(p) <= 8
}

// isCapitalised is the shape of a name in running text: an upper-case
// letter followed by at least one lower-case letter and letters,
// apostrophes or hyphens only (Smith, O'Brien, Jean-Luc, Müller).
func isCapitalised(w string) bool {
	w = lettersOnly(w)
	rs := []rune(w)
	if len(rs) < 2 || !unicode.IsUpper(rs[0]) {
		return false
	}
	lower := 0
	for _, r := range rs[1:] {
		switch {
		case unicode.IsLower(r):
			lower++
		case r == '\'' || r == '’' || r == '-':
		default:
			return false
		}
	}
	return lower > 0
}

// dropNameShapes marks words that have the shape of a person's name: a
// title and the (at most two) name words after it, and two capitalised
// words in a row of which neither is descriptor vocabulary. It returns the
// number of names found.
func dropNameShapes(words []string, drop []bool, pairs bool) int {
	n := 0
	for i := 0; i < len(words); i++ {
		t := strings.ToLower(lettersOnly(words[i]))
		if personTitles[t] && i+1 < len(words) {
			j := i + 1
			for ; j < len(words) && j <= i+2; j++ {
				nw := lettersOnly(words[j])
				if nw == "" || isVocabulary(nw) || !isNameWord(nw) {
					break
				}
				drop[j] = true
			}
			if j > i+1 {
				drop[i] = true
				n++
				i = j - 1
				continue
			}
		}
		if pairs && i+1 < len(words) && isCapitalised(words[i]) && isCapitalised(words[i+1]) &&
			!isVocabulary(words[i]) && !isVocabulary(words[i+1]) {
			drop[i], drop[i+1] = true, true
			n++
			i++
		}
	}
	return n
}

// isNameWord: letters (any case), apostrophes and hyphens.
func isNameWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if !unicode.IsLetter(r) && r != '\'' && r != '’' && r != '-' {
			return false
		}
	}
	return true
}

// dropOutsideVocabulary is the strict descriptor mode: a word survives
// only when every piece of it (split at separators, at lower-to-upper case
// changes and between letters and digits) is descriptor vocabulary, a
// number, or an abbreviation of at most four ASCII letters that is not a
// common short surname. Unknown names in any case or spelling (lower case,
// capitals, glued with underscores, CamelCase, leetspeak, reversed) fall
// out; ordinary protocol names (T1_MPRAGE_SAG, AX FLAIR, DWI b1000,
// PET-CT SERIES) stay.
func dropOutsideVocabulary(words []string, drop []bool) int {
	n := 0
	for i, w := range words {
		if !drop[i] && !strictWordOK(w) {
			drop[i] = true
			n++
		}
	}
	return n
}

func strictWordOK(w string) bool {
	for _, p := range strictPieces(w) {
		if !strictPieceOK(p) {
			return false
		}
	}
	return true
}

// strictPieces splits a word at non-alphanumerics, at a lower-case letter
// followed by an upper-case one (T1TriafogrelSag → T 1 Triafogrel Sag) and
// between letters and digits; pieces are lower-cased.
func strictPieces(w string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range w {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			prev = 0
			continue
		case prev != 0 && unicode.IsLower(prev) && unicode.IsUpper(r),
			prev != 0 && unicode.IsDigit(prev) != unicode.IsDigit(r):
			flush()
		}
		cur = append(cur, r)
		prev = r
	}
	flush()
	return out
}

func strictPieceOK(p string) bool {
	if shortSurnames[p] {
		return false
	}
	if vocabulary[p] {
		return true
	}
	digits, letters := 0, 0
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r >= 'a' && r <= 'z':
			letters++
		default:
			return false // other scripts: only vocabulary
		}
	}
	if letters == 0 {
		return digits <= 8 // a number; longer ones are identifiers
	}
	return letters <= 4
}

// shortSurnames are names of at most four letters common enough to turn up
// in descriptors; the strict mode does not take them for abbreviations.
var shortSurnames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`li wu xu hu lu yu su ye zhu guo lin luo gao sun liu
		lee kim park choi kang cho lim han shin seo kwon ahn song ryu hong jung yoon jang
		ng tan goh koh ong teo chua roy das sen dey rao pal jain nair iyer shah khan ali amin
		aziz diaz cruz ruiz vega soto rios leon mora luna moss bell ward cook hall hill wood
		king lane shaw hunt ross ford webb cole dean rose todd reid kerr hart wolf koch bach
		ott graf beck haas lang metz roth vogt abe ito mori ono endo sato kato doi ueda baba
		john mary anne paul luke adam eric ivan igor olga anna emma lily zoe amy ben dan tom
		tim sam joe bob jim kate jane ruth ella mia noah liam owen jack eli ian`) {
		m[n] = true
	}
	return m
}()
