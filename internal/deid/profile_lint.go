package deid

import (
	"fmt"
	"sort"
	"strings"
)

// linter collects findings while parsing.
type linter struct {
	findings []Finding
	acks     map[string]bool
	used     map[string]bool
}

func (l *linter) add(sev Severity, field, msg, fix string) {
	l.findings = append(l.findings, Finding{Severity: sev, Field: field, Message: msg, Fix: fix})
}

// risk adds an error that the acknowledgement ack waives.
func (l *linter) risk(field, msg, fix, ack string) {
	f := Finding{Severity: SevError, Field: field, Message: msg, Fix: fix, Ack: ack}
	if l.acks[ack] {
		f.Waived = true
		l.used[ack] = true
	}
	l.findings = append(l.findings, f)
}

func lintUserRules(l *linter, p *Profile) {
	type use struct{ list, raw string }
	seen := map[string][]use{}
	note := func(list string, tp TagPath) {
		c := tp.Canonical()
		seen[c] = append(seen[c], use{list, tp.raw})
	}
	for _, tp := range p.Keep {
		note("Keep", tp)
	}
	for _, tp := range p.Remove {
		note("Remove", tp)
	}
	for _, r := range p.Replace {
		note("Replace", r.Path)
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		uses := seen[k]
		if len(uses) > 1 {
			var lists []string
			for _, u := range uses {
				lists = append(lists, u.list)
			}
			msg := fmt.Sprintf("path %s appears in %s", uses[0].raw, strings.Join(lists, " and "))
			same := true
			for _, l := range lists {
				same = same && l == lists[0]
			}
			if same {
				l.add(SevWarning, uses[0].list, fmt.Sprintf("path %s is listed twice", uses[0].raw), "list it once")
				continue
			}
			if p.Strict {
				l.add(SevError, uses[0].list, msg, "keep it in one list")
			} else {
				l.add(SevWarning, uses[0].list, msg+"; Orthanc order applies (Keep beats Replace beats Remove)", "keep it in one list")
			}
		}
	}
	check4 := func(list string, tp TagPath) {
		if !tp.topLevel() {
			return
		}
		name, ok := fourKeys[tp.leaf().tag]
		if !ok {
			return
		}
		if list == "Remove" {
			l.add(SevError, "Remove", fmt.Sprintf("%s cannot be removed", name), "remove it from Remove (it is pseudonymised or remapped by the baseline)")
			return
		}
		if !p.Force {
			l.add(SevError, list, fmt.Sprintf("%s of %s needs \"Force\": true (as in Orthanc)", list, name), `add "Force": true`)
		}
	}
	for _, tp := range p.Remove {
		check4("Remove", tp)
	}
	for _, r := range p.Replace {
		check4("Replace", r.Path)
	}
	for _, tp := range p.Keep {
		check4("Keep", tp)
		leaf := tp.leaf()
		if leaf.private {
			continue
		}
		if kind := identifyingKind(leaf.tag); kind != "" {
			l.risk("Keep", fmt.Sprintf("keeps %s %s with its original value", kind, tp.raw),
				fmt.Sprintf("remove %s from Keep, or list it in AcknowledgeRisk", tp.raw), "path:"+tp.Canonical())
		} else if _, ok := lookupRow(leaf.tag); ok {
			l.add(SevWarning, "Keep", fmt.Sprintf("keeps %s, which PS3.15 Table E.1-1 lists as identifying (the gate still checks it)", tp.raw), "")
		}
	}
}
