package deid

// QuarantineCodes lists every Reason.Code the engine and the gate can
// give (the gate's as "gate:<check>"), so that metrics can create their
// per-reason series at zero before the first quarantine. A test checks
// the list against the engine's sources.
func QuarantineCodes() []string {
	codes := []string{
		"already-deidentified", "codestream-unfilterable", "content-sequence-without-clean-structured-content",
		"deidentify-failed", "dicomdir-not-an-instance", "dummy-sequence-unsupported", "empty-patient-id",
		"encapsulated-document", "encode-failed", "graphic-annotation-without-clean-graphics",
		"identifier-in-required-value", "missing-sop-uids", "parse-failed", "pixel-risk", "replace-failed",
		"transcode-unsupported",
	}
	for _, c := range gateChecks {
		codes = append(codes, "gate:"+c)
	}
	return codes
}
