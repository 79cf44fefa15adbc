package xnat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aisedge/aisedge/internal/fault"
)

// query builds a query string in the given order. Keys keep ':' and '/'
// readable (xsiType=xnat:mrSessionData&xnat:mrSessionData/date=…), as in
// XNAT's documentation; everything else is escaped.
type query []string

func (q query) add(k, v string) query { return append(q, qEscape(k)+"="+qEscape(v)) }

func (q query) String() string { return strings.Join(q, "&") }

func qEscape(s string) string {
	s = url.QueryEscape(s)
	return strings.NewReplacer("%3A", ":", "%2F", "/").Replace(s)
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// labelRE is what XNAT accepts everywhere for project, subject and
// experiment labels (docs/xnat.md, "Labels and IDs"); pseudonyms always
// match.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// scanIDRE allows the dot too (scan IDs are series numbers, "1", "1001", "3.1").
var scanIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func checkLabel(what, v string) error {
	if !labelRE.MatchString(v) {
		return fmt.Errorf("xnat: %s %q must match [A-Za-z0-9_-]+: %w", what, v, ErrInvalid)
	}
	return nil
}

func checkScanID(v string) error {
	if !scanIDRE.MatchString(v) || v == "." || v == ".." {
		return fmt.Errorf("xnat: scan ID %q must match [A-Za-z0-9_.-]+: %w", v, ErrInvalid)
	}
	return nil
}

func checkResourceLabel(v string) error {
	if !scanIDRE.MatchString(v) || v == "." || v == ".." {
		return fmt.Errorf("xnat: resource label %q must match [A-Za-z0-9_.-]+: %w", v, ErrInvalid)
	}
	return nil
}

// table is XNAT's table JSON; values are strings but numbers are tolerated.
type table struct {
	ResultSet struct {
		Result []map[string]any `json:"Result"`
	} `json:"ResultSet"`
}

func parseTable(op string, body []byte) ([]map[string]string, error) {
	var t table
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, &Error{Op: op, Msg: "answer is not an XNAT table", Err: err, kind: fault.Transient}
	}
	out := make([]map[string]string, 0, len(t.ResultSet.Result))
	for _, row := range t.ResultSet.Result {
		m := make(map[string]string, len(row))
		for k, v := range row {
			switch x := v.(type) {
			case nil:
				m[k] = ""
			case string:
				m[k] = x
			case float64:
				m[k] = fmt.Sprint(int64(x))
			default:
				m[k] = fmt.Sprint(x)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// item is XNAT's single-object JSON.
type itemJSON struct {
	Items []struct {
		Meta       map[string]any `json:"meta"`
		DataFields map[string]any `json:"data_fields"`
	} `json:"items"`
}

func parseItem(op string, body []byte) (xsiType string, fields map[string]string, err error) {
	var it itemJSON
	if err := json.Unmarshal(body, &it); err != nil || len(it.Items) == 0 {
		if err == nil {
			err = errors.New("no items")
		}
		return "", nil, &Error{Op: op, Msg: "answer is not an XNAT object", Err: err, kind: fault.Transient}
	}
	fields = map[string]string{}
	for k, v := range it.Items[0].DataFields {
		fields[k] = fmt.Sprint(v)
	}
	if t, ok := it.Items[0].Meta["xsi:type"].(string); ok {
		xsiType = t
	}
	return xsiType, fields, nil
}

func (c *Client) get(ctx context.Context, op, path string, q query) (*reply, error) {
	return c.do(ctx, call{op: op, method: http.MethodGet, path: path, query: q.String()})
}

// EnsureProject checks that project P exists and is visible
// (GET /data/projects/{P}). A 404 is ErrProjectNotFound (permanent):
// projects are never created.
func (c *Client) EnsureProject(ctx context.Context, project string) error {
	if err := checkLabel("project", project); err != nil {
		return err
	}
	_, err := c.get(ctx, "check project", "/data/projects/"+seg(project), query{}.add("format", "json"))
	if statusOf(err) == http.StatusNotFound {
		return &Error{Op: "check project " + project, Status: http.StatusNotFound, Err: ErrProjectNotFound, kind: fault.Permanent}
	}
	return err
}

// Subject is an XNAT subject.
type Subject struct {
	ID, Label string
}

// LookupSubject returns the subject with that label (ok=false if absent).
func (c *Client) LookupSubject(ctx context.Context, project, subject string) (Subject, bool, error) {
	if err := checkLabel("subject", subject); err != nil {
		return Subject{}, false, err
	}
	rep, err := c.get(ctx, "look up subject", "/data/projects/"+seg(project)+"/subjects/"+seg(subject), query{}.add("format", "json"))
	if statusOf(err) == http.StatusNotFound {
		return Subject{}, false, nil
	}
	if err != nil {
		return Subject{}, false, err
	}
	_, f, err := parseItem("look up subject", rep.body)
	if err != nil {
		return Subject{}, false, err
	}
	return Subject{ID: f["ID"], Label: subject}, true, nil
}

// EnsureSubject creates the subject if needed (PUT, 201 created / 200
// existed) and returns its accession ID. Safe to repeat.
func (c *Client) EnsureSubject(ctx context.Context, project, subject string) (string, error) {
	if err := checkLabel("project", project); err != nil {
		return "", err
	}
	if err := checkLabel("subject", subject); err != nil {
		return "", err
	}
	path := "/data/projects/" + seg(project) + "/subjects/" + seg(subject)
	rep, err := c.do(ctx, call{op: "create subject", method: http.MethodPut, path: path,
		query: query{}.add("xsiType", "xnat:subjectData").add("req_format", "qs").String()})
	if statusOf(err) == http.StatusNotFound {
		return "", &Error{Op: "create subject in " + project, Status: http.StatusNotFound, Err: ErrProjectNotFound, kind: fault.Permanent}
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(rep.body))
	if id == "" || !validToken(id) {
		s, ok, err := c.LookupSubject(ctx, project, subject)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", &Error{Op: "create subject", Msg: "subject not found after PUT", kind: fault.Transient}
		}
		id = s.ID
	}
	return id, nil
}

// Experiment is an XNAT experiment (image session).
type Experiment struct {
	ID, Label, Project, SubjectID, XSIType, Date string
	// Filled by XNAT's header pull (PullHeaders): Study Instance UID,
	// modality and scanner (Station Name).
	UID, Modality, Scanner string
	// Created is true when this call created it (201).
	Created bool
}

// ExperimentSpec is what EnsureExperiment needs: labels are pseudonyms.
type ExperimentSpec struct {
	Project, Subject, Label string
	XSIType                 string // e.g. xnat:mrSessionData (see SessionXSIType)
	Date                    string // optional, YYYY-MM-DD
}

// LookupExperiment finds an experiment by label within the project
// (GET /data/projects/{P}/experiments/{label}); ok=false if absent. A 404 is
// ambiguous (missing project or experiment): call EnsureProject first.
func (c *Client) LookupExperiment(ctx context.Context, project, label string) (Experiment, bool, error) {
	if err := checkLabel("experiment", label); err != nil {
		return Experiment{}, false, err
	}
	rep, err := c.get(ctx, "look up experiment", "/data/projects/"+seg(project)+"/experiments/"+seg(label), query{}.add("format", "json"))
	if statusOf(err) == http.StatusNotFound {
		return Experiment{}, false, nil
	}
	if err != nil {
		return Experiment{}, false, err
	}
	t, f, err := parseItem("look up experiment", rep.body)
	if err != nil {
		return Experiment{}, false, err
	}
	e := Experiment{ID: f["ID"], Label: label, Project: project, SubjectID: f["subject_ID"], XSIType: t, Date: f["date"],
		UID: f["UID"], Modality: f["modality"], Scanner: f["scanner"]}
	if e.ID == "" {
		return Experiment{}, false, &Error{Op: "look up experiment", Msg: "answer has no ID", kind: fault.Transient}
	}
	return e, true, nil
}

// EnsureExperiment returns the experiment, creating subject and experiment
// when it does not exist yet. An existing experiment is left untouched
// (no PUT) and keeps its type; it must belong to the same subject and be an
// image session, else ErrConflict.
func (c *Client) EnsureExperiment(ctx context.Context, s ExperimentSpec) (Experiment, error) {
	for _, l := range [][2]string{{"project", s.Project}, {"subject", s.Subject}, {"experiment", s.Label}} {
		if err := checkLabel(l[0], l[1]); err != nil {
			return Experiment{}, err
		}
	}
	if !strings.HasPrefix(s.XSIType, "xnat:") {
		return Experiment{}, fmt.Errorf("xnat: experiment xsiType %q: %w", s.XSIType, ErrInvalid)
	}
	e, ok, err := c.LookupExperiment(ctx, s.Project, s.Label)
	if err != nil {
		return Experiment{}, err
	}
	if ok {
		// An existing session keeps its type: a later generation may carry
		// other modalities (a CT first, then an OT-only append) and would
		// compute another type, but XNAT cannot change an experiment's
		// type and the session is the same. Only a label held by something
		// that is not an image session is a conflict.
		if e.XSIType != "" && !strings.EqualFold(e.XSIType, s.XSIType) {
			if !isImageSessionType(e.XSIType) {
				return e, &Error{Op: "experiment " + s.Label, Msg: fmt.Sprintf("exists as %s, not an image session", e.XSIType),
					Err: ErrConflict, kind: fault.Permanent}
			}
			c.log.Info("xnat experiment keeps its type", "experiment", e.ID, "type", e.XSIType, "computed", s.XSIType)
		}
		if e.SubjectID != "" {
			subj, found, err := c.LookupSubject(ctx, s.Project, s.Subject)
			if err != nil {
				return e, err
			}
			if !found || subj.ID != e.SubjectID {
				return e, &Error{Op: "experiment " + s.Label, Msg: "exists under another subject",
					Err: ErrConflict, kind: fault.Permanent}
			}
		}
		return e, nil
	}
	if _, err := c.EnsureSubject(ctx, s.Project, s.Subject); err != nil {
		return Experiment{}, err
	}
	q := query{}.add("xsiType", s.XSIType).add("req_format", "qs")
	if s.Date != "" {
		q = q.add(s.XSIType+"/date", s.Date)
	}
	path := "/data/projects/" + seg(s.Project) + "/subjects/" + seg(s.Subject) + "/experiments/" + seg(s.Label)
	rep, err := c.do(ctx, call{op: "create experiment", method: http.MethodPut, path: path, query: q.String()})
	if statusOf(err) == http.StatusConflict {
		return Experiment{}, &Error{Op: "create experiment " + s.Label, Status: http.StatusConflict,
			Msg: "label in use", Err: ErrConflict, kind: fault.Permanent}
	}
	if err != nil {
		return Experiment{}, err
	}
	e = Experiment{ID: strings.TrimSpace(string(rep.body)), Label: s.Label, Project: s.Project, XSIType: s.XSIType,
		Date: s.Date, Created: rep.status == http.StatusCreated}
	if e.ID == "" || !validToken(e.ID) {
		found, ok, err := c.LookupExperiment(ctx, s.Project, s.Label)
		if err != nil {
			return Experiment{}, err
		}
		if !ok {
			return Experiment{}, &Error{Op: "create experiment", Msg: "experiment not found after PUT", kind: fault.Transient}
		}
		found.Created = e.Created
		e = found
	}
	return e, nil
}

func isImageSessionType(t string) bool {
	return strings.HasSuffix(strings.ToLower(t), "sessiondata")
}

// PullHeaders has XNAT read the DICOM headers of the session's files into
// the session (PUT /data/experiments/{ID}?pullDataFromHeaders=true, as
// xnat-ingest does after uploading): date, time, Study Instance UID,
// modality and scanner, and per scan its UID and description. XNAT keys
// scans by series number and refuses to change a scan's type; that refusal
// ("Modification of scan modality not supported") is a permanent
// ErrConflict, other failures are classified as usual.
func (c *Client) PullHeaders(ctx context.Context, experimentID string) error {
	if experimentID == "" || !validToken(experimentID) {
		return fmt.Errorf("xnat: experiment ID %q: %w", experimentID, ErrInvalid)
	}
	_, err := c.do(ctx, call{op: "pull data from headers", method: http.MethodPut,
		path: "/data/experiments/" + seg(experimentID), query: query{}.add("pullDataFromHeaders", "true").String(),
		reclassify: func(e *Error) {
			if strings.Contains(strings.ToLower(e.Msg), "modification of scan modality") {
				e.Err, e.kind = ErrConflict, fault.Permanent
			}
		}})
	return err
}

// ScanInfo is a row of an experiment's scan listing.
type ScanInfo struct {
	ID, XSIType, Type, SeriesDescription string
}

// ListScans lists an experiment's scans (experiment by accession ID).
func (c *Client) ListScans(ctx context.Context, experimentID string) ([]ScanInfo, error) {
	rep, err := c.get(ctx, "list scans", "/data/experiments/"+seg(experimentID)+"/scans", query{}.add("format", "json"))
	if err != nil {
		return nil, err
	}
	rows, err := parseTable("list scans", rep.body)
	if err != nil {
		return nil, err
	}
	out := make([]ScanInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, ScanInfo{ID: r["ID"], XSIType: r["xsiType"], Type: r["type"], SeriesDescription: r["series_description"]})
	}
	return out, nil
}

// ScanSpec describes a scan to create.
type ScanSpec struct {
	ID                string // scan ID, usually the series number
	XSIType           string // e.g. xnat:mrScanData (see ScanXSIType); required
	Type              string // scan type (XNAT "type")
	SeriesDescription string
}

// LookupScan returns the scan with that ID (ok=false if absent).
func (c *Client) LookupScan(ctx context.Context, experimentID, scanID string) (ScanInfo, bool, error) {
	if err := checkScanID(scanID); err != nil {
		return ScanInfo{}, false, err
	}
	rep, err := c.get(ctx, "look up scan", "/data/experiments/"+seg(experimentID)+"/scans/"+seg(scanID), query{}.add("format", "json"))
	if statusOf(err) == http.StatusNotFound {
		return ScanInfo{}, false, nil
	}
	if err != nil {
		return ScanInfo{}, false, err
	}
	t, f, err := parseItem("look up scan", rep.body)
	if err != nil {
		return ScanInfo{}, false, err
	}
	return ScanInfo{ID: scanID, XSIType: t, Type: f["type"], SeriesDescription: f["series_description"]}, true, nil
}

// EnsureScan creates a scan that does not exist yet (PUT with xsiType,
// type and series_description) and reports whether it did. An existing
// scan is left as it is. XNAT answers a scan PUT with 200 whether it
// created the scan or not (docs/xnat.md, "Creating the hierarchy"), so
// "created" comes from looking first, never from the status.
func (c *Client) EnsureScan(ctx context.Context, experimentID string, s ScanSpec) (bool, error) {
	if err := checkScanID(s.ID); err != nil {
		return false, err
	}
	if _, ok, err := c.LookupScan(ctx, experimentID, s.ID); err != nil || ok {
		return false, err
	}
	return true, c.putScan(ctx, experimentID, s)
}

// putScan sends the scan PUT. A 409 means a scan of another type holds the
// ID (XNAT refuses to change a scan's type).
func (c *Client) putScan(ctx context.Context, experimentID string, s ScanSpec) error {
	if err := checkScanID(s.ID); err != nil {
		return err
	}
	if !strings.HasPrefix(s.XSIType, "xnat:") || strings.EqualFold(s.XSIType, "xnat:imageScanData") {
		return fmt.Errorf("xnat: scan %s: xsiType %q must be a concrete xnat:*ScanData type: %w", s.ID, s.XSIType, ErrInvalid)
	}
	q := query{}.add("xsiType", s.XSIType).add("req_format", "qs")
	if s.Type != "" {
		q = q.add("type", s.Type)
	}
	if s.SeriesDescription != "" {
		q = q.add(s.XSIType+"/series_description", s.SeriesDescription)
	}
	_, err := c.do(ctx, call{op: "create scan", method: http.MethodPut,
		path: "/data/experiments/" + seg(experimentID) + "/scans/" + seg(s.ID), query: q.String()})
	if statusOf(err) == http.StatusConflict {
		return &Error{Op: "create scan " + s.ID, Status: http.StatusConflict, Msg: "a scan of another type holds this ID",
			Err: ErrConflict, kind: fault.Permanent}
	}
	return err
}

// ResourceRef names a resource of a scan (ScanID set) or of an experiment
// (ScanID empty), by experiment accession ID.
type ResourceRef struct {
	ExperimentID string
	ScanID       string
	Label        string // e.g. DICOM
}

func (r ResourceRef) String() string {
	if r.ScanID == "" {
		return r.ExperimentID + "/resources/" + r.Label
	}
	return r.ExperimentID + "/scans/" + r.ScanID + "/resources/" + r.Label
}

func (r ResourceRef) parentPath() string {
	p := "/data/experiments/" + seg(r.ExperimentID)
	if r.ScanID != "" {
		p += "/scans/" + seg(r.ScanID)
	}
	return p
}

func (r ResourceRef) path() string { return r.parentPath() + "/resources/" + seg(r.Label) }

// ResourceInfo is a row of a resource listing.
type ResourceInfo struct {
	ID, Label, Format, Content string
}

// ListResources lists the resources of a scan (scanID "") or experiment.
func (c *Client) ListResources(ctx context.Context, experimentID, scanID string) ([]ResourceInfo, error) {
	ref := ResourceRef{ExperimentID: experimentID, ScanID: scanID}
	rep, err := c.get(ctx, "list resources", ref.parentPath()+"/resources", query{}.add("format", "json"))
	if err != nil {
		return nil, err
	}
	rows, err := parseTable("list resources", rep.body)
	if err != nil {
		return nil, err
	}
	out := make([]ResourceInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, ResourceInfo{ID: r["xnat_abstractresource_id"], Label: r["label"], Format: r["format"], Content: r["content"]})
	}
	return out, nil
}

// EnsureResource creates a resource (PUT …/resources/{label}?format=…);
// 409 means it already exists. It reports whether it was created.
func (c *Client) EnsureResource(ctx context.Context, ref ResourceRef, format, content string) (bool, error) {
	if err := checkResourceLabel(ref.Label); err != nil {
		return false, err
	}
	q := query{}
	if format != "" {
		q = q.add("format", format)
	}
	if content != "" {
		q = q.add("content", content)
	}
	_, err := c.do(ctx, call{op: "create resource", method: http.MethodPut, path: ref.path(), query: q.String()})
	if statusOf(err) == http.StatusConflict {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
