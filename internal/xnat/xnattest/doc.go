// Package xnattest is an in-process XNAT server for tests: an httptest
// server that implements the REST calls of docs/xnat.md (logging in,
// reading, creating the hierarchy, uploading, verification) with the
// status codes of its "Errors and retries", quirks included:
//
//   - POST/GET/DELETE /data/JSESSION, PUT /data/services/auth, alias tokens;
//     every Basic-auth request creates a login, XNAT's server session
//     (per-user cap), the idle timeout is announced in
//     SESSION_EXPIRATION_TIME, and an expired
//     cookie gets 401 + WWW-Authenticate, or a 200 HTML login page for a
//     browser User-Agent (or for everyone with Options.HTMLOnExpired);
//   - projects are never created; subjects and experiments answer 201 when
//     created and 200 when they already existed (body = accession ID); an
//     experiment PUT auto-creates its subject; scans need an xsiType on every
//     PUT, answer 200 also when created and 409 when their type would
//     change; a resource PUT on an existing label answers 409;
//   - PUT ?pullDataFromHeaders=true on an experiment reads the DICOM headers
//     of its files: scans keyed by series number (twins for scans named
//     otherwise), typed by SOP class (XNAT 1.9's table), refused with 500
//     when a scan's type would change; session date, time, UID, modality
//     and scanner filled;
//   - file PUT/POST with raw, multipart or archive bodies (extract=true for
//     .zip/.tar/.gz/.zar); an existing file is never overwritten without
//     overwrite=true and the answer is 200 {"duplicates":[...]}; a
//     collaborator's upload answers 2xx and writes nothing;
//   - files on disk and catalog entries are separate: an upload can leave
//     files uncatalogued (unlisted, yet duplicates on a resend); the catalog
//     refresh service catalogues them (append) and fills in MD5 digests
//     (checksum), which listings carry only while checksums are on;
//   - an empty in-body upload is a 500; alias tokens expire (48 h by
//     default); locked accounts get 401; a proxy body limit answers 413;
//   - errors are HTML status pages with the message in <h3>.
//
// Fault injection (Server.Inject) answers a chosen status for the Nth
// matching call, adds latency, hangs up, or expires every login before a
// call is served, or (After, Uncatalogued) after the work was done. Introspection (Projects, Subjects, Experiments, Scans,
// Resources, Files, Requests, Count, ...) lets tests look at what a client
// did. It is a test double of an external server: it stays faithful to
// XNAT's behaviour as docs/xnat.md describes it rather than to our client,
// and imports nothing of the project. Where it differs from XNAT is listed
// in docs/xnat.md, "The emulator".
//
// The import service and the prearchive (see docs/xnat.md, "What the hub
// does not use") are not implemented; such calls answer 404.
// fixScanTypes and triggerPipelines on an experiment PUT are ignored.
package xnattest
