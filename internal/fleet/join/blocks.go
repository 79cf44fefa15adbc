package join

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Markers of the blocks fleet join owns in /etc/hosts and the Corefile.
// Lines between them are replaced on every run; lines outside are never
// touched.
const (
	BeginMarker = "# BEGIN aisedge"
	EndMarker   = "# END aisedge"
)

const beginComment = BeginMarker + " (written by aisedge fleet join; edits inside are replaced)"

// hostsBlock is the /etc/hosts block mapping names to ip ("" when names
// is empty).
func hostsBlock(ip string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return beginComment + "\n" + ip + "\t" + strings.Join(names, " ") + "\n" + EndMarker + "\n"
}

// markedBlock finds the marked blocks in lines: the index of the first
// BEGIN line and the lines without any block. An unterminated block is an
// error (nothing is guessed).
func markedBlock(lines []string) (at int, rest []string, err error) {
	at = -1
	in := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, BeginMarker):
			if in {
				return 0, nil, fmt.Errorf("line %d: %q inside another aisedge block", i+1, t)
			}
			in = true
			if at < 0 {
				at = len(rest)
			}
		case strings.HasPrefix(t, EndMarker):
			if !in {
				return 0, nil, fmt.Errorf("line %d: %q without %q", i+1, t, BeginMarker)
			}
			in = false
		case !in:
			rest = append(rest, l)
		}
	}
	if in {
		return 0, nil, fmt.Errorf("%q without %q: fix the file by hand", BeginMarker, EndMarker)
	}
	return at, rest, nil
}

// replaceHostsBlock returns content with its aisedge block replaced by
// block (removed when block is empty; appended when there was none).
// Everything outside the block is kept byte for byte.
func replaceHostsBlock(content, block string) (string, error) {
	lines := splitLines(content)
	at, rest, err := markedBlock(lines)
	if err != nil {
		return "", fmt.Errorf("/etc/hosts: %w", err)
	}
	if at < 0 {
		at = len(rest)
	}
	out := append([]string{}, rest[:at]...)
	out = append(out, splitLines(block)...)
	out = append(out, rest[at:]...)
	return joinLines(out), nil
}

// conflictingHosts lists lines outside the block that map one of names
// (the first entry of /etc/hosts wins, so they may shadow the block).
func conflictingHosts(content string, names []string) []string {
	lines := splitLines(content)
	_, rest, err := markedBlock(lines)
	if err != nil {
		return nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []string
	for _, l := range rest {
		f := strings.Fields(strings.SplitN(l, "#", 2)[0])
		for _, n := range f[min(1, len(f)):] {
			if want[n] {
				out = append(out, strings.TrimSpace(l))
				break
			}
		}
	}
	return out
}

// splitLines splits after each newline; a last line without one is kept
// as it is.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.SplitAfter(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func joinLines(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l)
		if !strings.HasSuffix(l, "\n") && i < len(lines)-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

var (
	// serverBlockRE is the root zone's server block of a Corefile
	// (k0s: ".:53 {").
	serverBlockRE = regexp.MustCompile(`^\s*\.(:53)?\s*\{\s*$`)
	hostsPluginRE = regexp.MustCompile(`^(\s*)hosts(\s.*)?\{\s*$`)
)

// patchCorefile puts a marked hosts block mapping names to ip into the
// root server block of a CoreDNS Corefile (removes it when names is
// empty). Lines outside the block stay as they are. A hosts plugin that
// fleet join did not write (the original installer replaced the whole
// Corefile with one) is taken over: its entries for other names and its
// options are kept inside the marked block, since CoreDNS allows one hosts
// plugin per server block.
func patchCorefile(corefile, ip string, names []string) (string, error) {
	lines := splitLines(corefile)
	at, rest, err := markedBlock(lines)
	if err != nil {
		return "", fmt.Errorf("Corefile: %w", err)
	}
	if len(names) == 0 {
		return joinLines(rest), nil
	}
	open := -1
	for i, l := range rest {
		if serverBlockRE.MatchString(strings.TrimRight(l, "\n")) {
			open = i
			break
		}
	}
	if open < 0 {
		return "", fmt.Errorf("the Corefile has no root server block (\".:53 {\"); add the hosts block by hand")
	}
	end := closingBrace(rest, open)
	if end < 0 {
		return "", fmt.Errorf("the Corefile's root server block is not closed")
	}
	indent := "    "
	if open+1 < len(rest) {
		if m := regexp.MustCompile(`^(\s+)\S`).FindStringSubmatch(rest[open+1]); m != nil {
			indent = m[1]
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	header, body, hasFallthrough := "hosts {", []string(nil), false
	// Entries an earlier run kept in the marked block (see below) stay.
	if inner := markedInner(lines); len(inner) > 0 {
		header, body, hasFallthrough = hostsBody(inner, want)
	}
	// An unmarked hosts plugin in the root block: take it over.
	for i := open + 1; i < end; i++ {
		m := hostsPluginRE.FindStringSubmatch(strings.TrimRight(rest[i], "\n"))
		if m == nil || len(m[1]) != len(indent) {
			continue
		}
		close := closingBrace(rest, i)
		if close < 0 || close > end {
			return "", fmt.Errorf("the Corefile's hosts block is not closed")
		}
		var b []string
		var f bool
		header, b, f = hostsBody(rest[i:close+1], want)
		body, hasFallthrough = append(body, b...), hasFallthrough || f
		rest = append(rest[:i:i], rest[close+1:]...)
		end -= close + 1 - i
		if at < 0 || at > i {
			at = i
		}
		break
	}
	block := []string{indent + beginComment + "\n", indent + header + "\n",
		indent + indent + ip + " " + strings.Join(names, " ") + "\n"}
	for _, l := range body {
		block = append(block, indent+indent+l+"\n")
	}
	if !hasFallthrough {
		block = append(block, indent+indent+"fallthrough\n")
	}
	block = append(block, indent+"}\n", indent+EndMarker+"\n")
	if at < 0 || at <= open || at > end {
		at = open + 1
	}
	out := append([]string{}, rest[:at]...)
	out = append(out, block...)
	out = append(out, rest[at:]...)
	return joinLines(out), nil
}

// markedInner is the lines inside the first marked block.
func markedInner(lines []string) []string {
	var out []string
	in := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, BeginMarker):
			in = true
		case strings.HasPrefix(t, EndMarker):
			return out
		case in:
			out = append(out, l)
		}
	}
	return nil
}

// hostsBody reads a hosts plugin (its header line to its closing brace):
// the header, the lines to keep (entries for names other than want's,
// options) and whether fallthrough is among them.
func hostsBody(lines []string, want map[string]bool) (header string, body []string, ft bool) {
	header = "hosts {"
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if i == 0 {
			if hostsPluginRE.MatchString(t) {
				header = t
				continue
			}
		}
		f := strings.Fields(t)
		if len(f) == 0 || t == "}" {
			continue
		}
		if f[0] == "fallthrough" {
			ft = true
		}
		if len(f) >= 2 && looksLikeIP(f[0]) {
			var keep []string
			for _, n := range f[1:] {
				if !want[n] {
					keep = append(keep, n)
				}
			}
			if len(keep) == 0 {
				continue
			}
			f = append(f[:1], keep...)
		}
		body = append(body, strings.Join(f, " "))
	}
	return header, body, ft
}

// closingBrace is the line closing the block opened on line open.
func closingBrace(lines []string, open int) int {
	depth := 0
	for i := open; i < len(lines); i++ {
		l := strings.SplitN(lines[i], "#", 2)[0]
		depth += strings.Count(l, "{") - strings.Count(l, "}")
		if depth == 0 {
			return i
		}
	}
	return -1
}

func looksLikeIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
