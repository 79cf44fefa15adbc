package xnat

import (
	"context"
	"crypto/md5"
	"encoding/hex"
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

// RefreshCatalog asks XNAT to bring a resource's catalog in line with its
// files on disk (POST /data/services/refresh/catalog?resource=/archive/…
// &options=append,checksum,populateStats): files on disk that the catalog
// lacks are added (an upload interrupted after writing them), missing MD5
// digests are computed, and the resource's statistics updated.
func (c *Client) RefreshCatalog(ctx context.Context, ref ResourceRef) error {
	res := "/archive/experiments/" + ref.ExperimentID
	if ref.ScanID != "" {
		res += "/scans/" + ref.ScanID
	}
	res += "/resources/" + ref.Label
	q := query{}.add("resource", res).add("options", "append,checksum,populateStats")
	_, err := c.do(ctx, call{op: "refresh catalog", method: http.MethodPost, path: "/data/services/refresh/catalog", query: q.String()})
	return err
}

// Check is how a file was verified.
type Check string

const (
	// CheckMD5: relative path and the MD5 digest XNAT lists match.
	CheckMD5 Check = "md5"
	// CheckDownload: XNAT lists no digest (checksums off) even after a
	// catalog refresh, so the file was downloaded and its MD5 computed.
	CheckDownload Check = "md5-download"
	// CheckSize: used in a Mismatch when the listed size already differs.
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
	// Check is CheckMD5, or CheckDownload when some files had to be
	// downloaded to be checked.
	Check      Check
	Verified   int // manifest files found and matching
	Downloaded int // of which checked by downloading them
	Refreshed  bool
	Missing    []string
	Mismatched []Mismatch
	Extra      []string // listed in XNAT, not in the manifest (left alone)
}

// OK reports whether every manifest file is in XNAT and matches.
func (v Verification) OK() bool { return len(v.Missing) == 0 && len(v.Mismatched) == 0 }

// Verify compares a resource's listing with the manifest entries (relative
// path and MD5; File.Open is not used). When files are missing from the
// listing or listed without a digest, it first asks for a catalog refresh
// (which catalogues files already on disk and computes digests) and lists
// again; files still without a digest are downloaded and hashed. Nothing is
// taken as verified on its size alone. A mismatch or a missing file yields
// a *VerifyError alongside the result.
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
	if incomplete(want, listing) {
		err := c.RefreshCatalog(ctx, ref)
		switch {
		case err == nil:
			v.Refreshed = true
			if listing, err = c.ListResourceFiles(ctx, ref); err != nil {
				return v, err
			}
		case IsPermanent(err):
			c.log.Warn("xnat catalog refresh refused; checking what is listed", "resource", ref.String(), "err", err)
		default:
			return v, err
		}
	}
	idx := make(map[string]RemoteFile, len(listing))
	for _, r := range listing {
		idx[r.Path] = r
	}
	for _, f := range want {
		r, ok := idx[f.Path]
		want := strings.ToLower(f.MD5)
		switch {
		case !ok:
			v.Missing = append(v.Missing, f.Path)
		case r.Digest != "" && r.Digest != want:
			v.Mismatched = append(v.Mismatched, Mismatch{Path: f.Path, By: CheckMD5, Want: want, Got: r.Digest})
		case r.Digest != "":
			v.Verified++
		case r.Size >= 0 && r.Size != f.Size:
			v.Mismatched = append(v.Mismatched, Mismatch{Path: f.Path, By: CheckSize,
				Want: strconv.FormatInt(f.Size, 10), Got: strconv.FormatInt(r.Size, 10)})
		default:
			// No digest even after a refresh: fetch the bytes and hash them.
			got, found, err := c.downloadMD5(ctx, ref, f.Path)
			if err != nil {
				return v, err
			}
			switch {
			case !found:
				v.Missing = append(v.Missing, f.Path)
			case got != want:
				v.Mismatched = append(v.Mismatched, Mismatch{Path: f.Path, By: CheckDownload, Want: want, Got: got})
			default:
				v.Verified++
				v.Downloaded++
			}
		}
	}
	if v.Downloaded > 0 {
		v.Check = CheckDownload
		c.log.Info("xnat lists no MD5 digests (checksums off); verified by download", "resource", ref.String(), "files", v.Downloaded)
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

// incomplete reports whether some wanted file is not listed, or listed
// without a digest: then a catalog refresh may help.
func incomplete(want []File, listing []RemoteFile) bool {
	idx := make(map[string]string, len(listing))
	for _, r := range listing {
		idx[r.Path] = r.Digest
	}
	for _, f := range want {
		if d, ok := idx[f.Path]; !ok || d == "" {
			return true
		}
	}
	return false
}

// downloadMD5 fetches a file (GET …/files/{path}) and returns its MD5;
// found is false when XNAT does not serve it (404).
func (c *Client) downloadMD5(ctx context.Context, ref ResourceRef, path string) (string, bool, error) {
	rep, err := c.do(ctx, call{op: "download file", method: http.MethodGet, path: ref.path() + "/files/" + escapePath(path), upload: true})
	if statusOf(err) == http.StatusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	sum := md5.Sum(rep.body)
	return hex.EncodeToString(sum[:]), true, nil
}
