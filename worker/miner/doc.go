// Package miner is the proof-of-work search: a small Solver interface, a
// CPU solver and a Miner that turns a header template into a solved
// header.
//
// Proof of work is chain's: SHA-256d of the 160-byte header, read as a
// little-endian 256-bit integer, at most the target its bits encode. The
// nonce is the header's last 8 bytes, in the last SHA-256 chunk, so a
// solver hashes the first 128 bytes once (chain.PowJob's midstate) and per
// nonce only the last chunk plus the second SHA-256: two compressions.
//
// Solver: Search(ctx, job, target, start, count) tries a range of nonces
// and returns one that meets the target, if any. It stops promptly when ctx
// is cancelled (a new tip arrived): CPU threads look every 2048 nonces. A
// GPU solver implements the same interface in this package (gpu*.go).
//
// CPU: NewCPU(threads) splits each range into contiguous parts, one per
// goroutine. Per nonce it runs the two compressions with the fastest of
// three implementations that passes a self-check against
// chain.PowJob.Hash (CPU.Impl names it): "sha-ni", this package's amd64
// assembly for the SHA extensions, both hashes of two nonces in one call,
// interleaved because the rounds are latency-bound (chosen by CPUID; not
// built with the purego tag); "crypto/sha256", the standard
// library's SHA-NI/AVX2 code driven from the midstate through the
// digest's binary state (restore a state whose buffer holds the padded
// last block less one byte, write that byte, read the state words back);
// and "pure-go", chain.PowJob.Hash. No allocation per nonce. Hashes() is a
// live counter for hash-rate displays.
//
// Miner: Mine(ctx, template) searches batches of nonces (adaptive, about
// 250 ms each) so that statistics and the timestamp stay current; when the
// nonce space of one timestamp is exhausted it moves the timestamp forward
// and starts again (the 64-bit nonce makes an extra nonce in the coinbase
// unnecessary: 2^64 hashes take decades even on a GPU). Every nonce a
// Solver reports is re-checked with chain.PowJob.Hash.
//
// Errors: ErrNoSolver (New), ErrBadSolution (a faulty solver), errors
// wrapping chain.ErrBadTarget (template bits zero, negative or
// overflowing), ctx.Err() on cancellation, and a Solver's own errors.
//
// The package is silent: it logs only to the zerolog.Logger in its Config
// (the zero Logger discards).
package miner
