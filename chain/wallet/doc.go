// Package wallet holds keys and builds payments: ed25519 keys derived from
// one 32-byte seed (key i = ed25519 seed TaggedHash("gradientcoin/wallet-key",
// seed, i)), a fresh address for every payment received and for every
// change output (the GradientCoin paper's privacy advice), coin selection
// over spendable outputs (mature, unspent, not already spent by a pending
// payment), and signed payments with one payment output and at most one
// change output.
//
// The wallet file is JSON (version, network, genesis hash, hex seed, number
// of keys handed out), mode 0600, written atomically (temporary file,
// fsync, rename, directory fsync). The seed is stored unencrypted: protect
// the file (encryption at rest is not implemented).
//
// Errors: ErrWalletFile, ErrExists, ErrBadPayment (errors.Is), and
// *InsufficientFundsError, which names what was spendable and what was
// needed and matches chain.ErrInsufficientFunds. The package does not log.
package wallet
