// Package store implements chain.Store on a bbolt database file.
//
// Contract: every chain.StateUpdate (one connected or disconnected block:
// UTXO delta, undo record, block status, chain state) is one bbolt
// read-write transaction (with the block itself when the update carries
// NewBlock: a block that extends the tip is written with its connect), so
// after a crash (kill -9 included) the database holds either all of a
// block's changes or none, and the recorded tip always agrees with the UTXO
// set. PutBlock (side-chain blocks) is its own transaction and is durable
// when it returns. bbolt fsyncs on every commit unless Options.NoSync is
// set (benchmarks only). Options.ReadOnly opens an existing database for
// reading only (a shared lock; nothing created or written). Model weights are not stored here: they are
// derived data that chain.BlockChain rebuilds from checkpoints and replay.
//
// Errors: I/O and corruption are chain.RuleError{Err: chain.ErrStore};
// missing blocks or undo records are chain.ErrNotFound. Test with
// errors.Is. The package does not log.
package store
