// Package dimse is the DICOM network layer of aisedge: the upper layer
// protocol of PS3.8 (PDUs, association negotiation, P-DATA transfer) and the
// DIMSE services of PS3.7 needed to receive and send images: C-ECHO and
// C-STORE, as service class provider (Server) and user (Dial).
//
// It imports internal/dicom for transfer syntaxes, the UID registry and
// Part 10 headers, and nothing else of the project. The receiver hands each
// instance, fsynced to disk, to a StoreHandler; what happens next
// (routing, de-identification, upload) is the handler's business.
package dimse
