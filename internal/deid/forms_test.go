package deid

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestFormsMatchRegexps: each hand-written form check accepts exactly the
// strings its PS3.5 regular expression accepts, over a table of edge cases
// and a million random strings from the characters that matter.
func TestFormsMatchRegexps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		re    *regexp.Regexp
		check func(string) bool
		chars string
	}{
		{"CS", regexp.MustCompile(`^[A-Z0-9 _]*$`), isCSForm, "AZaz09 _-.\x00é"},
		{"UI", regexp.MustCompile(`^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$`), isUIForm, "0019..a "},
		{"IS", regexp.MustCompile(`^[+-]?\d+$`), isISForm, "+-09. e"},
		{"DS", regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`), isDSForm, "+-09.eE "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range []string{"", "0", "00", "1.2", "1..2", ".1", "1.", ".", "+", "-1", "1e5", "1E+5", "1e", "e5", ".e5", "1.e-3", " 1", "1 ", "0.0", "01.2", "ABC_1 2", "abc", "1.2.840.10008", "1.02"} {
				if got, want := tc.check(s), tc.re.MatchString(s); got != want {
					t.Errorf("%q: check %v, regexp %v", s, got, want)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			chars := []rune(tc.chars)
			for range 1_000_000 {
				b := make([]rune, rng.IntN(8))
				for i := range b {
					b[i] = chars[rng.IntN(len(chars))]
				}
				s := string(b)
				if got, want := tc.check(s), tc.re.MatchString(s); got != want {
					t.Fatalf("%q: check %v, regexp %v", s, got, want)
				}
			}
		})
	}
}

// TestCleanPrefilterIsNecessary: whenever a cleaning pattern matches a
// text, its prefilter lets it run (the prefilter only skips patterns that
// cannot match).
func TestCleanPrefilterIsNecessary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	chars := []rune("0123456789 ().-/+@:,abcdeJanFebMarSWAK1é\t")
	words := []string{"January", "2nd", "Jan.", "1960", "19600102", "SW1A 1AA", "K1A 0B1", "1234 AB", "+44 20 7946 0958", "a.b@c.org", "(555) 014-2233", "3.2.2", "12/03/1961", "2 January 1960", "Mar 3, 61"}
	matched := map[*regexp.Regexp]int{}
	for range 300_000 {
		var b []rune
		for range rng.IntN(6) {
			if rng.IntN(3) == 0 {
				b = append(b, []rune(words[rng.IntN(len(words))])...)
			} else {
				b = append(b, chars[rng.IntN(len(chars))])
			}
		}
		s := string(b)
		ds := digitShape(s)
		for _, re := range []*regexp.Regexp{cleanEmailRE, cleanMonthDateRE, cleanDateRE, cleanPostcodeRE, cleanPhoneRE, cleanNumberRE} {
			if re.MatchString(s) {
				matched[re]++
				if !ds.mayMatch(re, s) {
					t.Fatalf("%q matches %v but its prefilter skips it (%+v)", s, re, ds)
				}
			}
		}
	}
	for _, re := range []*regexp.Regexp{cleanEmailRE, cleanMonthDateRE, cleanDateRE, cleanPostcodeRE, cleanPhoneRE, cleanNumberRE} {
		if matched[re] < 100 {
			t.Errorf("%v matched only %d random texts: the test does not exercise it", re, matched[re])
		}
	}
}
