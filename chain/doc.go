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
//
// # Chain state (BlockChain)
//
// New(Config{Params, Store, CheckpointDir, ...}) opens the chain: a fresh
// Store gets the genesis block; an existing one has its block index loaded,
// its weights rebuilt (newest checkpoint on the main chain, then replay) and
// any unfinished reorg completed. ProcessBlock(blk, now) is the one way in:
// it returns ProcessResult{MainChain, Orphan, TipChanged, Reorged,
// Accepted} or a RuleError; ClassifyBlock(result, err) turns that into the
// gossip verdict (accept / ignore / reject). Validation order: known block
// (ErrDuplicateBlock, ErrKnownInvalid) → CheckBlockSanity (not cached on
// failure: a body that does not match its header never marks the header
// invalid) → orphan pool if the parent is unknown (bounded by count, expiring)
// → CheckHeaderContext (height, ASERT bits, median time past) → stored
// (a block extending the tip: with its connect commit) → if its branch has
// the most work (ties keep the first seen), every block to
// attach is connected to a scratch UtxoView rolled back to the fork point and
// to the weights at the fork point (checkpoint + replay), checking the
// connect rules (CheckTxInputs, coinbase value, CheckTxSignatures) and the
// state root (state.Apply); only if all pass is the store written, one
// Store.Commit (UTXO delta, undo record, tip) per disconnected or connected
// block. A failing block is marked invalid with its descendants and the tip
// stays. Memory of a reorg of D blocks (all-or-nothing, so everything to
// write is held until the writes): per block of either side its header,
// transactions, UTXO delta and undo record — about three times its
// transaction bytes, at most 3 × (MaxBlockSize − MaxGradientSize), ~6 MiB
// on mainnet — plus ReorgFullBlocks whole blocks per side (older ones drop
// their contributions once applied; TipEvent says so) and two copies of
// the weights (the working copy and the newest checkpoint of the branch:
// older checkpoint copies are dropped). Before, every block was held whole
// (~19.7 MB each on mainnet) with a weights copy per checkpoint interval.
// A store failure is never a verdict: a block that was to be
// written with its connect commit leaves the index again (it can be
// processed anew), and the next activation scans the whole index for a
// stored branch with more work.
//
// Headers-first and snap sync: ProcessHeaders(hdrs, now) indexes headers
// ahead of their bodies after CheckHeaderSanity and CheckHeaderContext
// (difficulty, median time past); such header-only entries are never tip
// candidates, HaveBlock does not count them, and a body fills one in.
// ImportSnapshot(header, weights) takes weights (length, finite, root =
// header.StateRoot; ErrBadSnapshot otherwise) as the state after an
// indexed block S above the tip on a branch with more work
// (ErrSnapshotUnusable otherwise); S's ancestors then connect with every
// check except the replay of their contributions and the state-root
// comparison, S takes the snapshot's weights, and the blocks after S are
// replayed. The snapshot is persisted as S's checkpoint plus a marker file
// until S connects; reorgs below S and WeightsAt below S replay from
// genesis with full verification. PendingSnapshot reports one waiting.
// See snapshot.go and headers.go for the precise rules.
//
// Anti-DoS (Params.LowWorkMargin, see headers.go): a block on a branch
// whose work is below the tip's less LowWorkMargin blocks at the tip's
// difficulty is not stored unless headers-first sync indexed its header on
// a branch that reaches above that mark (ErrLowWork, ignored by gossip);
// header batches that end below it go to a pool of at most
// Config.MaxLowWorkHeaders header-only entries (lowest-work leaves evicted
// first), and a full header index prunes header-only leaves below it.
// Params.MinimumChainWork is for sync: no bodies from a header chain
// below it.
//
// Queries (all safe concurrently with ProcessBlock): Tip (hash, height,
// header, work, supply, median time past, next bits), BlockByHash,
// BlockByHeight, HashByHeight, HeaderByHash, StatusOf, IsMainChain,
// HaveBlock, HaveHeader, OrphanRoot, BlockLocator and LocateHeaders
// (headers-first sync), FetchUtxos, UtxosByAddress, ForEachUtxo, Weights (tip, a copy),
// WeightsAt(hash), and CheckBlockTemplate (all checks but proof of work,
// for miners). Subscribe(func(TipEvent)) delivers every tip change in order
// with the connected and disconnected blocks (mempools re-add the
// transactions of disconnected blocks; miners stop on a new tip).
//
// Supply: ChainState.Supply is Σ of the UTXO set's values. Every atom comes
// from a coinbase; a block adds at most Subsidy(height) new atoms (its
// coinbase may claim subsidy + fees, and fees only move atoms), so Supply ≤
// Params.SupplyAt(height), with equality when every coinbase claims all it
// may. The genesis coinbase is not in the UTXO set.
//
// Sub-packages: store (bbolt Store), mempool, wallet, chaintest (the
// fullblocktests-style generator and harness), state and sketch (the model).
// Store failures are ErrStore, missing data ErrNotFound, use after Close
// ErrClosed; snapshots ErrBadSnapshot (provably invalid) or
// ErrSnapshotUnusable (not the sender's fault), a full header index
// ErrIndexFull, a branch far below the tip ErrLowWork.
package chain
