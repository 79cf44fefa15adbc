package deid

// Hand-written checks of the value forms of PS3.5 section 6.2 that the
// engine tests on every element it keeps (they replaced regular
// expressions on the hot path; TestFormsMatchRegexps holds them to the
// same language).

// isCSForm: upper-case letters, digits, space and underscore.
func isCSForm(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '_') {
			return false
		}
	}
	return true
}

// isUIForm: dot-separated decimal components without leading zeros.
func isUIForm(s string) bool {
	if s == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			comp := s[start:i]
			if comp == "" || (len(comp) > 1 && comp[0] == '0') {
				return false
			}
			start = i + 1
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// digitsFrom returns the index after the run of ASCII digits starting at i.
func digitsFrom(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// isISForm: an optional sign and one or more digits.
func isISForm(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := digitsFrom(s, i)
	return j > i && j == len(s)
}

// isDSForm: an optional sign, digits with an optional fraction (or a
// fraction alone), and an optional exponent.
func isDSForm(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := digitsFrom(s, i)
	intDigits := j > i
	if j < len(s) && s[j] == '.' {
		k := digitsFrom(s, j+1)
		if !intDigits && k == j+1 {
			return false // "." alone
		}
		j = k
	} else if !intDigits {
		return false
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := digitsFrom(s, j)
		if k == j {
			return false
		}
		j = k
	}
	return j == len(s)
}
