// Package xnattest is an in-process XNAT server for tests: an httptest
// server that implements the REST calls of docs/xnat.md (logging in,
// reading, creating the hierarchy, uploading, verification) with the
// status codes of its "Errors and retries", quirks included:
//
//   - POST/GET/DELETE /data/JSESSION, PUT /data/services/auth, alias tokens;
//     every Basic-auth request creates a server session (per-user cap), the
//     idle timeout is announced in SESSION_EXPIRATION_TIME, and an expired
//     cookie gets 401 + WWW-Authenticate, or a 200 HTML login page for a
//     browser User-Agent (or for everyone with Options.HTMLOnExpired);
//   - projects are never created; subjects and experiments answer 201 when
//     created and 200 when they already existed (body = accession ID); an
//     experiment PUT auto-creates its subject; scans need an xsiType on every
//     PUT; a resource PUT on an existing label answers 409;
//   - file PUT/POST with raw, multipart or archive bodies (extract=true for
//     .zip/.tar/.gz/.zar); an existing file is never overwritten without
//     overwrite=true and the answer is 200 {"duplicates":[...]}; a
//     collaborator's upload answers 2xx and writes nothing;
//   - file listings carry MD5 digests only while checksums are on; the
//     catalog refresh service fills them in (unless told not to);
//   - errors are HTML status pages with the message in <h3>.
//
// Fault injection (Server.Inject) answers a chosen status for the Nth
// matching call, adds latency, hangs up, or expires every session before a
// call is served. Introspection (Projects, Subjects, Experiments, Scans,
// Resources, Files, Requests, Count, ...) lets tests look at what a client
// did. It is a test double of an external server: it stays faithful to
// XNAT's behaviour as docs/xnat.md describes it rather than to our client,
// and imports nothing of the project. Where it differs from XNAT is listed
// in docs/xnat.md, "The emulator".
//
// The import service, the prearchive and post-upload session actions (see
// docs/xnat.md, "What the hub does not use") are not implemented; such
// calls answer 404.
package xnattest
