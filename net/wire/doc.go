// Package wire is GradientCoin's peer-to-peer message layer: the encodings
// of the gossip messages (compact blocks, transactions, contribution
// announcements) and of the stream-protocol requests and responses
// (status, headers, block bodies, contributions, weight-snapshot
// manifests and chunks), the zstd codec every payload passes through, and
// the stream framing.
//
// Contract: every decoder accepts arbitrary bytes and either returns a
// value or an error; it never panics, never allocates more than the
// input's size (or a small constant) before checking a length against its
// cap, and rejects trailing bytes, unknown versions and out-of-range
// fields. Encodings are canonical: a value that decodes re-encodes to the
// same bytes. Decompression is bounded three ways: the frame must declare
// its content size, which must be within the caller's limit and MaxFrame;
// its window must be within MaxWindow; and the decoder cannot write past
// the declared size. Larger objects travel as sequences of frames
// (WriteBlob / ReadBlob). The package is silent (no logging) and holds no
// mutable state apart from the lazily built default Codec.
//
// Message integrity against commitments (a body against its header, a
// contribution against its hash, a snapshot chunk against its manifest)
// is the caller's job; VerifyBody, DecodeBody and VerifyContribution
// help.
//
// Errors: every error matches one ErrorKind with errors.Is —
// ErrMalformed, ErrTooLarge, ErrCompression, ErrMismatch — and, when a
// chain decoder failed, the chain kind too (chain.ErrTruncated, ...).
// ReadBlob also returns ErrNotFound and ErrBusy for those responses, and
// stream I/O errors (io.ErrUnexpectedEOF, deadlines) unchanged.
package wire
