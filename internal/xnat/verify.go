package xnat

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// RemoteFile is a row of a resource's file listing.
type RemoteFile struct {
	Path   string // relative path inside the resource (from URI, not Name)
	Name   string // basename, as XNAT lists it
	Size   int64  // -1 if not listed
	Digest string // lowercase hex MD5; "" when the site has checksums off
	URI    string
}

// ListResourceFiles lists a resource's files with sizes and digests
// (GET …/resources/{R}/files?format=json). An unknown resource lists empty.
func (c *Client) ListResourceFiles(ctx context.Context, ref ResourceRef) ([]RemoteFile, error) {
	rep, err := c.get(ctx, "list files", ref.path()+"/files", query{}.add("format", "json"))
	if err != nil {
		return nil, err
	}
	rows, err := parseTable("list files", rep.body)
	if err != nil {
		return nil, err
	}
	out := make([]RemoteFile, 0, len(rows))
	for _, r := range rows {
		f := RemoteFile{Name: r["Name"], URI: r["URI"], Digest: strings.ToLower(strings.TrimSpace(r["digest"])), Size: -1}
		if n, err := strconv.ParseInt(strings.TrimSpace(r["Size"]), 10, 64); err == nil {
			f.Size = n
		}
		f.Path = relPathFromURI(f.URI, f.Name)
		out = append(out, f)
	}
	return out, nil
}

// relPathFromURI takes everything after the first "/files/" of a listed
// URI (docs/xnat.md, "Reading": Name is only the basename).
func relPathFromURI(uri, name string) string {
	_, rest, ok := strings.Cut(uri, "/files/")
	if !ok || rest == "" {
		return name
	}
	if strings.Contains(rest, "%") {
		if u, err := url.PathUnescape(rest); err == nil {
			rest = u
		}
	}
	return rest
}

// RefreshCatalog asks XNAT to recompute checksums and statistics of a
// resource (POST /data/services/refresh/catalog?resource=/archive/…&options=checksum,populateStats).
func (c *Client) RefreshCatalog(ctx context.Context, ref ResourceRef) error {
	res := "/archive/experiments/" + ref.ExperimentID
	if ref.ScanID != "" {
		res += "/scans/" + ref.ScanID
	}
	res += "/resources/" + ref.Label
	q := query{}.add("resource", res).add("options", "checksum,populateStats")
	_, err := c.do(ctx, call{op: "refresh catalog", method: http.MethodPost, path: "/data/services/refresh/catalog", query: q.String()})
	return err
}

// Check is how strongly a file was verified.
type Check string

const (
	// CheckMD5: relative path and MD5 digest match.
	CheckMD5 Check = "md5"
	// CheckSize: the site lists no digests (checksums off) even after a
	// catalog refresh; relative path and size match. Weaker, and recorded.
	CheckSize Check = "size"
)

// Mismatch is a listed file whose content differs from the manifest.
type Mismatch struct {
	Path      string
	By        Check  // what differed
	Want, Got string // manifest value, XNAT value
}

// Verification is the outcome of comparing a resource with the manifest.
type Verification struct {
	Ref ResourceRef
	// Check is the weakest check any file passed (CheckMD5 unless some
	// were verified by size only).
	Check        Check
	Verified     int // manifest files found and matching
	SizeVerified int // of which verified by size only
	Refreshed    bool
	Missing      []string
	Mismatched   []Mismatch
	Extra        []string // listed in XNAT, not in the manifest (left alone)
}

// OK reports whether every manifest file is in XNAT and matches.
func (v Verification) OK() bool { return len(v.Missing) == 0 && len(v.Mismatched) == 0 }

// Verify compares a resource's listing with the manifest entries (relative
// path and MD5; File.Open is not used). When XNAT lists empty digests it
// asks for a catalog refresh and lists again; files still without a digest
// are compared by size and the weaker check is recorded in the result.
// A mismatch or a missing file yields a *VerifyError alongside the result.
func (c *Client) Verify(ctx context.Context, ref ResourceRef, want []File) (Verification, error) {
	if err := checkFiles(want, false); err != nil {
		return Verification{Ref: ref}, err
	}
	unlock, err := c.locks.lock(ctx, ref.String())
	if err != nil {
		return Verification{Ref: ref}, err
	}
	defer unlock()
	return c.verify(ctx, ref, want, nil)
}

// verify does Verify's work; listing, if not nil, is a fresh listing to
// start from.
func (c *Client) verify(ctx context.Context, ref ResourceRef, want []File, listing []RemoteFile) (Verification, error) {
	v := Verification{Ref: ref, Check: CheckMD5}
	if listing == nil {
		var err error
		if listing, err = c.ListResourceFiles(ctx, ref); err != nil {
			return v, err
		}
	}
	pending := compare(&v, want, listing, false)
	if len(pending) > 0 {
		err := c.RefreshCatalog(ctx, ref)
		switch {
		case err == nil:
			v.Refreshed = true
			if listing, err = c.ListResourceFiles(ctx, ref); err != nil {
				return v, err
			}
		case IsPermanent(err):
			c.log.Warn("xnat catalog refresh refused; verifying by size", "resource", ref.String(), "err", err)
		default:
			return v, err
		}
		compare(&v, pending, listing, true)
		if v.SizeVerified > 0 {
			v.Check = CheckSize
			c.log.Warn("xnat lists no MD5 digests (checksums off?); verified by size only",
				"resource", ref.String(), "files", v.SizeVerified)
		}
	}
	extra := map[string]bool{}
	for _, r := range listing {
		extra[r.Path] = true
	}
	for _, f := range want {
		delete(extra, f.Path)
	}
	for p := range extra {
		v.Extra = append(v.Extra, p)
	}
	sort.Strings(v.Extra)
	sort.Strings(v.Missing)
	if !v.OK() {
		return v, &VerifyError{V: v}
	}
	return v, nil
}

// compare checks want against listing, adding to v. Files listed without a
// digest are returned as pending unless bySize, when their sizes decide.
func compare(v *Verification, want []File, listing []RemoteFile, bySize bool) []File {
	idx := make(map[string]RemoteFile, len(listing))
	for _, r := range listing {
		idx[r.Path] = r
	}
	var pending []File
	for _, f := range want {
		r, ok := idx[f.Path]
		switch {
		case !ok:
			v.Missing = append(v.Missing, f.Path)
		case r.Digest != "":
			if r.Digest != strings.ToLower(f.MD5) {
				v.Mismatched = append(v.Mismatched, Mismatch{Path: f.Path, By: CheckMD5, Want: strings.ToLower(f.MD5), Got: r.Digest})
			} else {
				v.Verified++
			}
		case r.Size >= 0 && r.Size != f.Size:
			v.Mismatched = append(v.Mismatched, Mismatch{Path: f.Path, By: CheckSize,
				Want: strconv.FormatInt(f.Size, 10), Got: strconv.FormatInt(r.Size, 10)})
		case !bySize:
			pending = append(pending, f)
		case r.Size < 0:
			v.Missing = append(v.Missing, f.Path) // listed without size or digest: cannot be verified
		default:
			v.Verified++
			v.SizeVerified++
		}
	}
	return pending
}
