// Package wallet holds keys and builds payments: ed25519 keys derived from
// one 32-byte seed, a fresh address for every payment received and for
// every change output (the GradientCoin paper's privacy advice), coin
// selection over spendable outputs (mature, unspent, not already spent by
// a pending payment), and signed payments with one payment output and at
// most one change output.
//
// # Keys
//
// Two derivation branches, both functions of the seed alone:
//
//   - the main branch, key i = ed25519 seed TaggedHash("gradientcoin/wallet-key",
//     seed, i as u32 LE) (DeriveKey): receiving addresses (NewAddress) and
//     change, handed out in order; the file records how many (next);
//   - the coinbase branch, key h = ed25519 seed
//     TaggedHash("gradientcoin/wallet-coinbase-key", seed, h as u64 LE)
//     (DeriveCoinbaseKey, CoinbaseAddress): a miner pays the coinbase of
//     its block at height h to key h, so mining hands out no key and
//     writes nothing.
//
// The wallet recognises main-branch keys up to GapLimit (1000) past next:
// a payment to one of them, in a connected block (NoteBlock) or found on
// the chain (Discover), moves next past it. Discover also looks at the
// coinbase key of every height it has not looked at yet (the file records
// how far it got). So a copy of the wallet file, however old, finds every
// coin: every mined one, and every payment to an address handed out
// fewer than GapLimit addresses after the last one found (Discover counts
// keys that hold coins; a longer run of handed-out addresses that were
// never paid, or paid and emptied, hides the ones after it).
//
// # File
//
// The wallet file is JSON (version, network, genesis hash, hex seed,
// number of main-branch keys handed out, how far the coinbase heights were
// looked at and those that paid the wallet (their coins not known spent;
// a node writes them when it stops, and Discover finds them again after a
// crash), and the wallet's own payments not yet in a block, hex-encoded, so that a
// restarted node sends them again), mode 0600, written atomically
// (temporary file, fsync, rename, directory fsync). The seed is stored
// unencrypted: protect the file (encryption at rest is not implemented).
// OpenReadOnly never writes it.
//
// Errors: ErrWalletFile, ErrExists, ErrBadPayment, ErrReadOnly
// (errors.Is), and *InsufficientFundsError, which names what was
// spendable and what was needed, in coins, and matches
// chain.ErrInsufficientFunds. The package does not log.
package wallet
