package xnat

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

// Session is one XNAT image session to deliver: pseudonymous labels and the
// manifest's files, grouped by scan and resource. Nothing in it is PHI.
type Session struct {
	Project string // must exist
	Subject string // subject label (pseudonym)
	Label   string // experiment label (pseudonym), unique in the project
	XSIType string // experiment type, e.g. SessionXSIType(modalities...)
	Date    string // optional YYYY-MM-DD
	Scans   []Scan
	// PullHeaders: the files are DICOM; once they are all verified, have
	// XNAT read their headers into the session (PullHeaders). Scan IDs must
	// then be series numbers and scan types those of the SOP classes, as
	// XNAT's session builder makes them.
	PullHeaders bool
}

// Scan is one scan of a session and its resources.
type Scan struct {
	ScanSpec
	Resources []Resource
}

// Resource is one resource (usually "DICOM") and its files.
type Resource struct {
	Label   string // e.g. "DICOM"
	Format  string // resource format attribute, e.g. "DICOM"
	Content string // resource content attribute, e.g. "RAW" (optional)
	Files   []File
}

// DeliverOptions tune Deliver.
type DeliverOptions struct {
	// Mode: Archive (default) or PerFile.
	Mode UploadMode
	// Parallel is how many scans are worked on at once (default 4: while
	// one scan's archive is being built, another's is on the wire and XNAT
	// extracts a third, which a study of several series needs to reach
	// XNAT within seconds of its quiet period). Two uploads never go into
	// one resource at once regardless; each scan's archive is held in
	// memory up to Config.ArchiveMemoryBytes.
	Parallel int
	// ReplaceMismatched overwrites files that exist in XNAT with other
	// content (overwrite=true). Off by default: such files are a conflict
	// and nothing is overwritten. Meant for an operator's explicit requeue.
	ReplaceMismatched bool
}

// ResourceReport is what Deliver did to one resource.
type ResourceReport struct {
	Ref            ResourceRef
	Created        bool // the resource was created by this delivery
	AlreadyPresent int  // manifest files found in XNAT before uploading
	Uploaded       int  // files sent
	Replaced       int  // files overwritten (ReplaceMismatched)
	Duplicates     int  // files XNAT reported as duplicates (not written)
	Verification   Verification
}

// Report is the outcome of Deliver.
type Report struct {
	ExperimentID      string
	ExperimentCreated bool
	// ScansCreated counts scans this delivery PUT because the experiment
	// did not list them (not 201 answers: XNAT never sends 201 for scans).
	ScansCreated int
	Resources    []ResourceReport
	// Check is how the files were verified: CheckMD5, or CheckDownload
	// when some had to be downloaded (the site lists no digests).
	Check    Check
	Files    int // manifest files verified in XNAT
	Uploaded int // files sent by this delivery
	// HeadersPulled: XNAT read the DICOM headers into the session;
	// Experiment is the session as XNAT describes it afterwards, and
	// MissingFields names the fields it still lacks (date, modality,
	// scanner).
	HeadersPulled bool
	Experiment    Experiment
	MissingFields []string
	// HeaderPullSkipped says why the pull was not asked for (scan IDs
	// that are not series numbers), "" otherwise.
	HeaderPullSkipped string
	Requests          int64
	Duration          time.Duration
}

// Deliver makes the session appear in XNAT complete and verified, and is
// safe to repeat: it checks the project, finds or creates subject and
// experiment, adds the scans and resources that are missing (an append adds
// scans to an existing experiment), lists each existing resource and
// uploads only the files it lacks, then verifies every manifest file by
// relative path and MD5 (by size when the site has checksums off and a
// catalog refresh does not help; Report.Check says so).
//
// The session counts as delivered only when Deliver returns a nil error.
// Errors are classified by IsTransient / IsPermanent; on a transient error
// the whole Deliver can be repeated and will fill only the gaps. Files that
// exist in XNAT with different content are never overwritten (ErrConflict)
// unless opts.ReplaceMismatched.
func (c *Client) Deliver(ctx context.Context, s Session, opts DeliverOptions) (*Report, error) {
	start := time.Now()
	var nreq atomic.Int64
	ctx = withRequestCounter(ctx, &nreq)
	rep := &Report{Check: CheckMD5}
	defer func() {
		rep.Requests = nreq.Load()
		rep.Duration = time.Since(start)
	}()
	if err := validateSession(&s); err != nil {
		return rep, err
	}
	if err := c.EnsureProject(ctx, s.Project); err != nil {
		return rep, err
	}
	exp, err := c.EnsureExperiment(ctx, ExperimentSpec{Project: s.Project, Subject: s.Subject, Label: s.Label,
		XSIType: s.XSIType, Date: s.Date})
	if err != nil {
		return rep, err
	}
	rep.ExperimentID, rep.ExperimentCreated = exp.ID, exp.Created
	existing := map[string]ScanInfo{}
	if !exp.Created {
		scans, err := c.ListScans(ctx, exp.ID)
		if err != nil {
			return rep, err
		}
		for _, sc := range scans {
			existing[sc.ID] = sc
		}
	}

	// A transient failure in one scan stops the others from starting (the
	// caller retries the whole delivery); a permanent one does not, so that
	// as much as possible is in place for the operator.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	par := opts.Parallel
	if par <= 0 {
		par = 4
	}
	sem := make(chan struct{}, par)
	results := make([][]ResourceReport, len(s.Scans))
	errs := make([]error, len(s.Scans))
	created := make([]bool, len(s.Scans))
	var wg sync.WaitGroup
	for i := range s.Scans {
		sc := s.Scans[i]
		old, had := existing[sc.ID]
		select {
		case sem <- struct{}{}:
		case <-sctx.Done():
		}
		if sctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], created[i], errs[i] = c.deliverScan(sctx, exp.ID, sc, had, old, opts)
			if errs[i] != nil && !IsPermanent(errs[i]) {
				stop()
			}
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	// Scans cut short by stop() only report the cancellation; drop those.
	for i, err := range errs {
		if err != nil && errors.Is(err, context.Canceled) && !IsPermanent(err) && !IsTransient(err) {
			errs[i] = nil
		}
	}
	for i := range s.Scans {
		if created[i] {
			rep.ScansCreated++
		}
		for _, rr := range results[i] {
			rep.Resources = append(rep.Resources, rr)
			rep.Files += rr.Verification.Verified
			rep.Uploaded += rr.Uploaded
			if rr.Verification.Check == CheckDownload {
				rep.Check = CheckDownload
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	if s.PullHeaders {
		if odd := notSeriesNumbers(s.Scans, existing); len(odd) > 0 {
			// XNAT's header pull keys scans by series number: scans named
			// otherwise (e.g. delivered by an older hub as 3_T1w) would each
			// get a twin. Leave the session undescribed instead.
			rep.HeaderPullSkipped = fmt.Sprintf("scan IDs that are not series numbers (first %s): the header pull would add twin scans", odd[0])
			c.log.Warn("xnat header pull skipped", "experiment", exp.ID, "reason", rep.HeaderPullSkipped)
			return rep, nil
		}
		if err := c.pullAndCheck(ctx, s, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// notSeriesNumbers lists the scan IDs, delivered or already in the
// experiment, that are not plain series numbers.
func notSeriesNumbers(scans []Scan, existing map[string]ScanInfo) []string {
	var odd []string
	isNumber := func(id string) bool {
		for _, r := range id {
			if r < '0' || r > '9' {
				return false
			}
		}
		return id != ""
	}
	for _, sc := range scans {
		if !isNumber(sc.ID) {
			odd = append(odd, sc.ID)
		}
	}
	for id := range existing {
		if !isNumber(id) {
			odd = append(odd, id)
		}
	}
	sort.Strings(odd)
	return odd
}

// pullAndCheck runs the header pull and reads back the fields it fills; a
// field still empty is reported (and logged), not an error: the headers
// may lack it.
func (c *Client) pullAndCheck(ctx context.Context, s Session, rep *Report) error {
	if err := c.PullHeaders(ctx, rep.ExperimentID); err != nil {
		return err
	}
	rep.HeadersPulled = true
	e, ok, err := c.LookupExperiment(ctx, s.Project, s.Label)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Op: "read back experiment " + s.Label, Msg: "not found after the header pull", kind: fault.Transient}
	}
	rep.Experiment = e
	for _, f := range [][2]string{{"date", e.Date}, {"modality", e.Modality}, {"scanner", e.Scanner}} {
		if f[1] == "" {
			rep.MissingFields = append(rep.MissingFields, f[0])
		}
	}
	if len(rep.MissingFields) > 0 {
		c.log.Warn("xnat session fields still empty after the header pull", "experiment", e.ID, "fields", rep.MissingFields)
	}
	return nil
}

func validateSession(s *Session) error {
	for _, l := range [][2]string{{"project", s.Project}, {"subject", s.Subject}, {"experiment", s.Label}} {
		if err := checkLabel(l[0], l[1]); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(s.XSIType, "xnat:") {
		return fmt.Errorf("xnat: session xsiType %q: %w", s.XSIType, ErrInvalid)
	}
	seen := map[string]bool{}
	for _, sc := range s.Scans {
		if err := checkScanID(sc.ID); err != nil {
			return err
		}
		if seen[sc.ID] {
			return fmt.Errorf("xnat: scan %s listed twice: %w", sc.ID, ErrInvalid)
		}
		seen[sc.ID] = true
		if !strings.HasPrefix(sc.XSIType, "xnat:") || strings.EqualFold(sc.XSIType, "xnat:imageScanData") {
			return fmt.Errorf("xnat: scan %s: xsiType %q must be a concrete xnat:*ScanData type: %w", sc.ID, sc.XSIType, ErrInvalid)
		}
		labels := map[string]bool{}
		for _, r := range sc.Resources {
			if err := checkResourceLabel(r.Label); err != nil {
				return err
			}
			if labels[r.Label] {
				return fmt.Errorf("xnat: scan %s: resource %s listed twice: %w", sc.ID, r.Label, ErrInvalid)
			}
			labels[r.Label] = true
			if err := checkFiles(r.Files, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Client) deliverScan(ctx context.Context, expID string, sc Scan, had bool, old ScanInfo, opts DeliverOptions) ([]ResourceReport, bool, error) {
	created := false
	present := map[string]bool{}
	if !had {
		// Not in the experiment's listing: this delivery creates it. The
		// PUT's status cannot tell (XNAT answers 200 either way).
		if err := c.putScan(ctx, expID, sc.ScanSpec); err != nil {
			return nil, false, err
		}
		created = true
	} else {
		if !strings.EqualFold(old.XSIType, sc.XSIType) {
			c.log.Warn("xnat scan exists with another xsiType; left as is", "experiment", expID, "scan", sc.ID,
				"have", old.XSIType, "want", sc.XSIType)
		}
		list, err := c.ListResources(ctx, expID, sc.ID)
		if err != nil {
			return nil, false, err
		}
		for _, r := range list {
			present[r.Label] = true
		}
	}
	var out []ResourceReport
	var errs []error
	for _, r := range sc.Resources {
		ref := ResourceRef{ExperimentID: expID, ScanID: sc.ID, Label: r.Label}
		rr, err := c.deliverResource(ctx, ref, r, present[r.Label], opts)
		out = append(out, rr)
		if err != nil {
			errs = append(errs, err)
			if !IsPermanent(err) {
				break // transient: let the caller retry the whole thing
			}
		}
	}
	return out, created, errors.Join(errs...)
}

// deliverResource fills one resource's gaps and verifies it, holding the
// resource's lock throughout.
func (c *Client) deliverResource(ctx context.Context, ref ResourceRef, r Resource, exists bool, opts DeliverOptions) (ResourceReport, error) {
	rr := ResourceReport{Ref: ref}
	unlock, err := c.locks.lock(ctx, ref.String())
	if err != nil {
		return rr, err
	}
	defer unlock()

	var listing []RemoteFile
	if !exists {
		created, err := c.EnsureResource(ctx, ref, r.Format, r.Content)
		if err != nil {
			return rr, err
		}
		rr.Created = created
		exists = !created // 409: someone made it meanwhile
	}
	if exists {
		if listing, err = c.ListResourceFiles(ctx, ref); err != nil {
			return rr, err
		}
	}

	// Plan: what is missing, what differs.
	idx := make(map[string]RemoteFile, len(listing))
	for _, f := range listing {
		idx[f.Path] = f
	}
	var send, replace []File
	var conflicts []Mismatch
	unverified := false
	for _, f := range r.Files {
		rf, ok := idx[f.Path]
		switch {
		case !ok:
			send = append(send, f)
		case rf.Digest != "" && rf.Digest != strings.ToLower(f.MD5):
			conflicts = append(conflicts, Mismatch{Path: f.Path, By: CheckMD5, Want: strings.ToLower(f.MD5), Got: rf.Digest})
		case rf.Digest == "" && rf.Size >= 0 && rf.Size != f.Size:
			conflicts = append(conflicts, Mismatch{Path: f.Path, By: CheckSize, Want: fmt.Sprint(f.Size), Got: fmt.Sprint(rf.Size)})
		default:
			rr.AlreadyPresent++
			if rf.Digest == "" {
				unverified = true
			}
		}
	}
	if len(conflicts) > 0 && opts.ReplaceMismatched {
		byPath := map[string]File{}
		for _, f := range r.Files {
			byPath[f.Path] = f
		}
		for _, m := range conflicts {
			replace = append(replace, byPath[m.Path])
		}
		conflicts = nil
	}

	if len(send) > 0 {
		res, err := c.upload(ctx, ref, send, opts.Mode, false)
		rr.Uploaded += res.Sent
		rr.Duplicates += len(res.Duplicates)
		if err != nil {
			return rr, err
		}
	}
	if len(replace) > 0 {
		c.log.Warn("xnat overwriting files that differ from the manifest (ReplaceMismatched)", "resource", ref.String(), "files", len(replace))
		res, err := c.upload(ctx, ref, replace, PerFile, true)
		rr.Uploaded += res.Sent
		rr.Replaced += res.Sent
		if err != nil {
			return rr, err
		}
	}

	// Verify. Nothing sent and every digest listed: the listing already
	// answers.
	if len(send) == 0 && len(replace) == 0 && !unverified && exists {
		rr.Verification, err = c.verify(ctx, ref, r.Files, listing)
	} else {
		rr.Verification, err = c.verify(ctx, ref, r.Files, nil)
	}
	var ve *VerifyError
	if errors.As(err, &ve) && len(ve.V.Mismatched) == 0 && len(send)+len(replace) > 0 {
		// Accepted but not stored: send the missing ones once more, file by
		// file, then give up as permanent (e.g. no edit rights: XNAT answers
		// 2xx and writes nothing).
		missing := map[string]bool{}
		for _, p := range ve.V.Missing {
			missing[p] = true
		}
		var again []File
		for _, f := range r.Files {
			if missing[f.Path] {
				again = append(again, f)
			}
		}
		c.log.Warn("xnat files missing after upload; sending again", "resource", ref.String(), "files", len(again))
		res, uerr := c.upload(ctx, ref, again, PerFile, false)
		rr.Uploaded += res.Sent
		if uerr != nil {
			return rr, uerr
		}
		rr.Verification, err = c.verify(ctx, ref, r.Files, nil)
		if errors.As(err, &ve) && len(ve.V.Mismatched) == 0 {
			return rr, fmt.Errorf("xnat: %s: %d files: %w (%w)", ref, len(ve.V.Missing), ErrNotStored, err)
		}
	}
	if err != nil {
		if errors.As(err, &ve) && len(ve.V.Mismatched) > 0 {
			return rr, fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return rr, err
	}
	if len(conflicts) > 0 {
		// Verification saw the same differences; kept for clarity.
		return rr, fmt.Errorf("xnat: %s: %d files differ in XNAT (first %s): %w", ref, len(conflicts), conflicts[0].Path, ErrConflict)
	}
	return rr, nil
}
