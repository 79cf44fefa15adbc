package deid

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDA parses a DA value (YYYYMMDD, or the legacy YYYY.MM.DD).
func parseDA(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 10 && s[4] == '.' && s[7] == '.' {
		s = s[:4] + s[5:7] + s[8:]
	}
	if len(s) != 8 || !allDigits(s) {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[4:6])
	d, _ := strconv.Atoi(s[6:])
	return mkDate(y, m, d)
}

func mkDate(y, m, d int) (time.Time, bool) {
	if y < 1 || m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d || int(t.Month()) != m {
		return time.Time{}, false // e.g. 20230230
	}
	return t, true
}

func fmtDA(t time.Time) (string, bool) {
	if t.Year() < 1 || t.Year() > 9999 {
		return "", false
	}
	return fmt.Sprintf("%04d%02d%02d", t.Year(), int(t.Month()), t.Day()), true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// shiftDA shifts one DA value, or a range A-B / -B / A-, by days.
func shiftDA(s string, days int) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "-") {
		a, b, _ := strings.Cut(s, "-")
		var sa, sb string
		var ok bool
		if a != "" {
			if sa, ok = shiftDA(a, days); !ok {
				return "", false
			}
		}
		if b != "" {
			if sb, ok = shiftDA(b, days); !ok {
				return "", false
			}
		}
		if a == "" && b == "" {
			return "", false
		}
		return sa + "-" + sb, true
	}
	t, ok := parseDA(s)
	if !ok {
		return "", false
	}
	return fmtDA(t.AddDate(0, 0, days))
}

// shiftDT shifts one DT value YYYY[MM[DD[HH[MM[SS[.F]]]]]][±ZZZZ] (or a
// range) by whole days: the time of day and the UTC offset are kept; a
// value of year or month precision is shifted by its first day and
// truncated back to its precision.
func shiftDT(s string, days int) (string, bool) {
	s = strings.TrimSpace(s)
	if out, ok := shiftOneDT(s, days); ok {
		return out, true
	}
	// A range: try each '-' as the separator.
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			continue
		}
		a, b := s[:i], s[i+1:]
		if a == "" && b == "" {
			continue
		}
		var sa, sb string
		ok := true
		if a != "" {
			sa, ok = shiftOneDT(a, days)
		}
		if ok && b != "" {
			sb, ok = shiftOneDT(b, days)
		}
		if ok {
			return sa + "-" + sb, true
		}
	}
	return "", false
}

func shiftOneDT(s string, days int) (string, bool) {
	body, zone := s, ""
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		body, zone = s[:i], s[i:]
		if len(zone) != 5 || !allDigits(zone[1:]) {
			return "", false
		}
	}
	datePart, frac := body, ""
	if i := strings.IndexByte(body, '.'); i >= 0 {
		datePart, frac = body[:i], body[i:]
		if len(datePart) != 14 || len(frac) < 2 || len(frac) > 7 || !allDigits(frac[1:]) {
			return "", false
		}
	}
	n := len(datePart)
	if !allDigits(datePart) || (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14) {
		return "", false
	}
	y, _ := strconv.Atoi(datePart[:4])
	m, d := 1, 1
	if n >= 6 {
		m, _ = strconv.Atoi(datePart[4:6])
	}
	if n >= 8 {
		d, _ = strconv.Atoi(datePart[6:8])
	}
	t, ok := mkDate(y, m, d)
	if !ok {
		return "", false
	}
	if n >= 10 {
		hh, _ := strconv.Atoi(datePart[8:10])
		mm, ss := 0, 0
		if n >= 12 {
			mm, _ = strconv.Atoi(datePart[10:12])
		}
		if n >= 14 {
			ss, _ = strconv.Atoi(datePart[12:14])
		}
		if hh > 23 || mm > 59 || ss > 60 {
			return "", false
		}
	}
	nd, ok := fmtDA(t.AddDate(0, 0, days))
	if !ok {
		return "", false
	}
	if n <= 8 {
		return nd[:n] + zone, true
	}
	return nd + datePart[8:] + frac + zone, true
}

// dateFormats renders a date in the spellings the gate searches for
// (docs/deid.md, "Deny-list").
func dateFormats(t time.Time) []string {
	y, m, d := t.Year(), int(t.Month()), t.Day()
	return []string{
		fmt.Sprintf("%04d%02d%02d", y, m, d),
		fmt.Sprintf("%04d-%02d-%02d", y, m, d),
		fmt.Sprintf("%02d/%02d/%04d", d, m, y),
		fmt.Sprintf("%02d.%02d.%04d", d, m, y),
		fmt.Sprintf("%02d/%02d/%04d", m, d, y),
	}
}

// ageString computes Patient's Age (AS) from two dates, capped at capYears.
func ageString(birth, at time.Time, capYears int) (string, bool) {
	if at.Before(birth) {
		return "", false
	}
	years := at.Year() - birth.Year()
	if at.Month() < birth.Month() || (at.Month() == birth.Month() && at.Day() < birth.Day()) {
		years--
	}
	switch {
	case years >= capYears:
		return fmt.Sprintf("%03dY", min(capYears, 999)), true
	case years >= 2:
		return fmt.Sprintf("%03dY", years), true
	}
	months := (at.Year()-birth.Year())*12 + int(at.Month()) - int(birth.Month())
	if at.Day() < birth.Day() {
		months--
	}
	if months >= 1 {
		return fmt.Sprintf("%03dM", months), true
	}
	daysN := int(at.Sub(birth).Hours() / 24)
	if daysN >= 7 {
		return fmt.Sprintf("%03dW", daysN/7), true
	}
	return fmt.Sprintf("%03dD", daysN), true
}

// capAge caps an AS value at capYears ("090Y").
func capAge(s string, capYears int) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 4 || !allDigits(s[:3]) || !strings.ContainsRune("DWMY", rune(s[3])) {
		return "", false
	}
	n, _ := strconv.Atoi(s[:3])
	if s[3] == 'Y' && n >= capYears {
		return fmt.Sprintf("%03dY", min(capYears, 999)), true
	}
	return s, true
}
