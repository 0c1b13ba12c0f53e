// Package chaintest is GradientCoin's fullblocktests: a generator of named
// blocks (Generator, NextBlock with options that break one rule at a time)
// and a harness that runs steps against a real chain.BlockChain on a real
// bbolt store (chain/store) in a directory, with a mempool subscribed to
// its tip events.
//
// Generate returns the suite: setup blocks, then steps named after every
// row of ../shared/reference/consensus-tests.md — the checklist (A1 … F4)
// and the attack table (01 … 32). A step expects accept (main chain), side
// chain, reject with an ErrorKind, orphan, a decoding failure, or runs a
// function; after every step the harness checks the expected tip and the
// supply invariant: the recorded supply equals Σ of the UTXO set and equals
// Params.SupplyAt(tip height) minus what coinbases left unclaimed (miners
// may claim less than subsidy + fees; fees move coins, never create them).
//
// Rows that belong to other layers get a step that exercises the
// chain-side function their layer calls: 31 (gossip: invalid → Reject and
// penalise, unknown parent → Ignore) runs ProcessBlock and
// chain.ClassifyBlock, the verdict function the gossip validator uses; 32
// (fuzz) decodes mutated encodings (no panic, canonical round trip), checks
// that CheckBlockSanity is monotone in its flags and feeds the mutants to
// ProcessBlock (the native fuzz targets of the decoders live in package
// chain); 30 (crash) reopens the store here, and chain/store's TestCrash
// kills a child process with SIGKILL at least 50 times.
//
// The suite runs on Params(): devnet (PoW limit, genesis, model, subsidy,
// maturity) with a 60 s spacing and half-life and smaller size caps, so
// that F1 (a shorter branch with more work) and row 10 (a block of exactly
// MaxBlockSize bytes) are cheap to build. Mining at the devnet limit takes
// ~256 hashes per block.
//
// Generator and Harness are also the block factory of the chain,
// mempool, wallet and store tests. The package panics only while
// generating a suite whose script is inconsistent (a bug in the script),
// and Generate turns that into an error.
package chaintest
