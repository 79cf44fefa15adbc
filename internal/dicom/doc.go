// Package dicom owns the DICOM Part 10 file format and the DICOM data set
// encoding (PS3.5, PS3.10): tags, value representations, the data
// dictionary, transfer syntaxes, and reading and writing data sets.
//
// It does no I/O beyond io.Reader, io.ReaderAt and io.Writer supplied by the
// caller. Every other package that needs to look inside a DICOM object
// imports this one; of the project's own code it imports only its charset
// subpackage.
//
// Design in brief:
//
//   - A Decoder turns a byte stream into a flat stream of tokens (element
//     headers, item starts and ends, sequence ends, pixel fragments) and lets
//     the caller read or skip each value through an io.Reader, so that a
//     large Pixel Data element never has to be held in memory.
//   - Parse builds a *Dataset tree from that token stream. Values above a
//     threshold are kept as references into the source when it is an
//     io.ReaderAt, and copied straight to the output when written.
//   - Values are kept as the original bytes (little-endian order; big-endian
//     input is swapped on read), so an unmodified data set is written back
//     byte for byte. Text is decoded to UTF-8 only on request, through the
//     data set's Specific Character Set.
//   - Bad input yields a *ParseError naming the byte offset and the problem;
//     the decoder never panics and never allocates more than the configured
//     limits on the strength of a length field.
package dicom
