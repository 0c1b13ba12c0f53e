// Package chain is GradientCoin's consensus: network parameters, the
// header, transaction and block types with their one canonical encoding,
// hashing, merkle roots, proof-of-work target math and difficulty, the UTXO
// set, block validation, the block index, best-chain selection and reorgs,
// the mempool, and the store interface.
//
// Contract: the package is pure. Time, parameters and storage are passed
// in; there are no mutable globals, no I/O except through the Store
// interface, and no result depends on goroutine scheduling or map order.
// Nothing in it panics on any input: decoders and constructors return
// errors that name the problem.
//
// Encoding: fixed-width little-endian integers; variable parts are
// prefixed by a u32 count or length that is checked against a cap and
// against the remaining input before anything is allocated. Decoders reject
// trailing bytes. Header: 160 bytes (see Header); the nonce sits in the
// last SHA-256 chunk so miners reuse a midstate (PowJob).
//
// Hashes: SHA-256d. Identities use TaggedHash (domain-separated) except the
// block hash, which is plain SHA-256d of the header, read as a
// little-endian 256-bit integer for proof of work (Bitcoin's rule).
// Txid excludes signatures; the tx root commits to full transactions.
//
// Errors: every consensus or decoding failure is a RuleError whose Err is
// an ErrorKind constant (ErrHighHash, ErrTruncated, ...): test with
// errors.Is(err, chain.ErrHighHash). Store failures wrap ErrStore.
package chain
