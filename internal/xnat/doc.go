// Package xnat owns the conversation with an XNAT server's REST API
// (docs/xnat.md): login and its reuse, the project →
// subject → experiment → scan → resource hierarchy, file uploads (one
// .tar.gz with extract=true per resource batch, or file by file), listing
// and MD5 verification, and the error taxonomy the hub needs to decide
// between retry and dead-letter (IsTransient, IsPermanent, on the classes
// of internal/fault).
//
// Only the hub imports it (its XNAT destination), with its emulator
// (xnattest) and cmd/aisedge, which builds the hub's destination from the
// configuration (internal/layering_test.go keeps it so). Of the project it
// imports only internal/fault and internal/fault/netfault. Deliver is
// the one-call entry point (idempotent: a repeat, an append of late scans
// or a retry after a crash only fills the gaps); the smaller operations it
// is built from are exported for the hub's status and repair paths.
//
// What goes in and what comes out carries no PHI by design: the client
// receives project, subject and experiment labels (pseudonyms), scan IDs and
// descriptions, file paths, sizes, digests and file bytes through File.Open.
// It logs methods, paths and status codes at debug level, never file
// contents, and never credentials: the username and password are sent once
// per login as Basic auth and appear in no log line, error or %v of Config.
//
// Behaviour required by the contract:
//
//   - One login (XNAT's server session, JSESSIONID) is used for every call,
//     kept alive by GET /data/JSESSION before the idle timeout the server
//     announces in SESSION_EXPIRATION_TIME, replaced by one fresh login
//     (then one retry) on a 401 or on an HTML page in a 2xx answer, and
//     ended by Close with DELETE /data/JSESSION. The User-Agent is never
//     browser-like.
//   - TLS is always verified (system roots plus an optional CA bundle); a
//     redirect from https:// to http:// is refused unless
//     Config.AllowInsecureRedirect, and so is any redirect that would turn
//     a write into a GET.
//   - Projects are never created (ErrProjectNotFound). Subject and
//     experiment PUTs carry the xsiType (SessionXSIType); an existing
//     experiment is not modified. Scan PUTs always carry xsiType, type and
//     series_description (ScanXSIType). A resource PUT answered 409 means
//     the resource exists.
//   - Existing files are never overwritten: uploads omit overwrite, and a
//     {"duplicates":[...]} answer means "not written"; verification then
//     decides whether XNAT's copy is ours (same MD5) or a conflict.
//   - Two uploads never go into one resource at once within a Client (a
//     per-resource lock). Two hubs sharing one XNAT project must not
//     deliver the same session concurrently.
//   - Verification compares relative paths (from the listed URI) and MD5
//     digests; with files missing or digests empty it asks for a catalog
//     refresh (append, checksum) and, if digests stay empty, downloads and
//     hashes the files (CheckDownload). Nothing is verified by size alone.
//   - Uploads are not repeated blindly: after a transient failure the
//     catalog is refreshed and listed, and only what is missing is sent; a
//     413 from a proxy splits the batch down to single files; a 0-byte file
//     goes in an archive (an empty in-body upload is a 500 in XNAT).
//   - Refused credentials (ErrAuth) are transient and never retried by the
//     client; alias tokens (Config.AliasToken) are renewed before expiry.
package xnat
