// Package fault owns the one classification of failures used across the
// project and the one backoff helper that goes with it.
//
// A failure is in one of four classes:
//
//   - Transient: the same request may succeed later (a reset connection, a
//     5xx answer, throttling); retry with backoff.
//   - Permanent: retrying the same request cannot succeed until someone
//     changes something (access denied, a conflict, invalid input, an
//     untrusted certificate); dead-letter, quarantine or report.
//   - Held: work is parked for an operator, with a reason (an edge
//     shipment after a permanent failure); neither retried nor dropped.
//   - Unknown: none of the above (a cancelled context, an unclassified
//     error); the caller decides, usually by reporting it once.
//
// Errors carry their class by wrapping a marker (ErrTransient,
// ErrPermanent, ErrHeld: MarkTransient, MarkPermanent, Hold) or by
// implementing Classifier (an error that knows its class, such as an HTTP
// error by its status). Network failures are sorted in one place, the
// subpackage netfault: TLS verification failures are permanent, refused,
// reset and timed-out connections transient. Packages with their own
// sentinels (objstore, xnat, deid) answer their IsPermanent and IsTransient
// from these.
//
// Backoff computes capped exponential waits with jitter; Do retries an
// operation with it under a context; Sleep waits unless the context ends.
//
// Any package may import fault; it imports only the standard library, and
// none of its network packages (de-identification, which must know no
// network, uses it).
package fault
