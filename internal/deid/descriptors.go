package deid

import (
	"bufio"
	_ "embed"
	"strings"
	"unicode"
)

// vocabulary.txt holds the words of acquisition, protocol and anatomy
// descriptors (docs/deid.md, "Clean Descriptors").
//
//go:embed vocabulary.txt
var vocabularyTXT string

var vocabulary = func() map[string]bool {
	m := map[string]bool{}
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

// dropOutsideVocabulary is the strict descriptor mode: every word that is
// not descriptor vocabulary, a number or a short code is removed.
func dropOutsideVocabulary(words []string, drop []bool) int {
	n := 0
	for i, w := range words {
		if !drop[i] && !isVocabulary(w) {
			drop[i] = true
			n++
		}
	}
	return n
}
