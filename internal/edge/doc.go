// Package edge is the facility side of aisedge: it turns instances received
// by the DICOM receiver into de-identified, complete sessions sealed in the
// bucket. Its parts, each with durable state in the spool:
//
//   - the receive handler (a dimse.StoreHandler): facility backup of the
//     original, de-identification, spool, before the C-STORE is answered;
//   - the stager: study completion (quiet period, force timeout, late
//     series as a new generation) and the session folder with its manifest;
//   - the shipper: upload to the object store, verification through
//     listing, the manifest written last as the seal, local clean-up after.
//
// It imports the codec, the receiver, the de-identification engine, the
// spool, the manifest format and the object store; nothing imports it but
// the commands.
package edge
