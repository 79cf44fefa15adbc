package deid

import (
	"encoding/json"
	"sort"
)

// Report is the value-free record of one instance (docs/deid.md, "Report"): what was
// done to which tag path under which rule, never an original value. Its
// identifiers are only new UIDs and pseudonyms.
type Report struct {
	Engine              string   `json:"engine"`
	Profile             string   `json:"profile"`
	ProfileHash         string   `json:"profileHash"`
	KeyID               string   `json:"keyId"`
	Acknowledged        []string `json:"acknowledged,omitempty"`
	OptionsHonoured     []string `json:"optionsHonoured"`
	Outcome             string   `json:"outcome"`
	Reasons             []Reason `json:"reasons,omitempty"`
	NewSOPInstanceUID   string   `json:"newSopInstanceUid,omitempty"`
	NewStudyInstanceUID string   `json:"newStudyInstanceUid,omitempty"`
	PseudoPatientID     string   `json:"pseudoPatientId,omitempty"`
	// Folder is the session's folder name, PROJECT.SUBJECT.VISIT (its
	// JSON name, sessionLabel, is kept for the reports already written;
	// the XNAT session label is another value, manifest.Label).
	Folder    string         `json:"sessionLabel,omitempty"`
	PixelRisk string         `json:"pixelRisk,omitempty"`
	Counts    map[string]int `json:"counts"`
	// NotAllowed counts the public elements outside Table E.1-1 that the
	// allowlist did not let through (removed or emptied; their paths and
	// rules are in Actions).
	NotAllowed int           `json:"notAllowed"`
	Actions    []ActionEntry `json:"actions"`
	Warnings   []Warning     `json:"warnings,omitempty"`
	Gate       *GateResult   `json:"gate,omitempty"`

	explain bool
	index   map[actionKey]int
	windex  map[warnKey]int
}

// ActionEntry is one (path, action, rule) with the number of elements it
// covers. Paths hold tags only; item indices are collapsed to [*] unless
// the report was made for --explain.
type ActionEntry struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Rule   string `json:"rule"`
	Count  int    `json:"count,omitempty"`
}

// Warning is a value-free note (iod-type-unknown, invalid-date-emptied, ...).
type Warning struct {
	Code   string `json:"code"`
	Path   string `json:"path,omitempty"`
	Detail string `json:"detail,omitempty"`
	Count  int    `json:"count"`
}

type actionKey struct{ path, action, rule string }
type warnKey struct{ code, path, detail string }

// Action letters used in reports beyond the PS3.15 codes: P pseudonym,
// R user Replace, A age computed, Q quarantined element.
func newReport(e *Engine, explain bool) *Report {
	return &Report{
		Engine: "AIS-Edge deid " + EngineVersion, Profile: e.prof.Name, ProfileHash: e.prof.Hash, KeyID: e.keys.KeyID(),
		Acknowledged: e.prof.Acknowledged, Counts: map[string]int{}, explain: explain,
		// Sized for a typical instance (about a hundred distinct paths).
		index: make(map[actionKey]int, 64), Actions: make([]ActionEntry, 0, 64), windex: map[warnKey]int{},
	}
}

func (r *Report) add(path, action, rule string) {
	r.Counts[action]++
	k := actionKey{path, action, rule}
	if i, ok := r.index[k]; ok {
		r.Actions[i].Count++
		return
	}
	r.index[k] = len(r.Actions)
	r.Actions = append(r.Actions, ActionEntry{Path: path, Action: action, Rule: rule, Count: 1})
}

func (r *Report) warn(code, path, detail string) {
	k := warnKey{code, path, detail}
	if i, ok := r.windex[k]; ok {
		r.Warnings[i].Count++
		return
	}
	r.windex[k] = len(r.Warnings)
	r.Warnings = append(r.Warnings, Warning{Code: code, Path: path, Detail: detail, Count: 1})
}

func (r *Report) finish(reasons []Reason) {
	r.Reasons = reasons
	r.Outcome = "deidentified"
	if len(reasons) > 0 {
		r.Outcome = "quarantined"
	}
	if !r.explain {
		sort.SliceStable(r.Actions, func(i, j int) bool { return r.Actions[i].Path < r.Actions[j].Path })
	}
}

// setGate records the gate result and updates the outcome.
func (r *Report) setGate(g *GateResult, reasons []Reason) {
	r.Gate = g
	r.finish(reasons)
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}
