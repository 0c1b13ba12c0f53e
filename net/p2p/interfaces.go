package p2p

import (
	"math/big"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Tip is a chain tip: hash, height and cumulative work.
type Tip struct {
	Hash   chain.Hash
	Height uint64
	Work   *big.Int
}

// Chain is what the network needs from the block chain. Implementations
// must be safe for concurrent use. Errors from CheckHeader and
// ProcessBlock are classified by their chain.ErrorKind (see Verdict):
// chain.ErrMissingParent, ErrDuplicateBlock, ErrTimeTooNew and ErrStore
// are not the sender's fault; every other kind proves the block invalid.
type Chain interface {
	// GenesisHash identifies the network.
	GenesisHash() chain.Hash
	// BestTip returns the tip of the most-work chain.
	BestTip() Tip
	// HaveBlock reports whether the block (header and body) is stored,
	// on any branch.
	HaveBlock(hash chain.Hash) bool
	// BlockByHash returns a stored block on any branch.
	BlockByHash(hash chain.Hash) (*chain.Block, error)
	// BlockSize returns the length of a stored block's encoding without
	// reading it, and BlockBytes the encoding itself, not decoded: what
	// the node serves (the byte budget is charged with the size first).
	BlockSize(hash chain.Hash) (int, error)
	BlockBytes(hash chain.Hash) ([]byte, error)
	// Locator returns a block locator for the best chain (tip first,
	// exponentially spaced, genesis last).
	Locator() []chain.Hash
	// HeadersAfter returns up to max headers of the best chain that
	// follow the first locator hash found on it (genesis if none),
	// stopping after stop (zero hash: no stop).
	HeadersAfter(locator []chain.Hash, stop chain.Hash, max int) []chain.Header
	// CheckHeader runs the checks that need no parent: version, proof of
	// work, target within the limit, timestamp not too far ahead.
	CheckHeader(h *chain.Header) error
	// ProcessBlock validates a block and stores it: it connects it (with
	// a reorg if its branch has the most work) or keeps it on a side
	// branch. It returns an error of kind chain.ErrMissingParent when the
	// parent is unknown, chain.ErrDuplicateBlock when already stored.
	ProcessBlock(b *chain.Block) error
}

// Mempool is what the network needs from the transaction pool.
type Mempool interface {
	HaveTx(txid chain.Hash) bool
	TxByID(txid chain.Hash) (*chain.Tx, bool)
	// ProcessTx validates tx against the best chain and adds it. Kinds
	// that say nothing about the sender's honesty (chain.ErrAlreadyHave,
	// ErrMempoolFull, ErrInsufficientFee, ErrMissingTxOut, ErrDoubleSpend,
	// ErrImmatureSpend, ErrStore, ErrRecentlyRejected) are ignored; other
	// chain kinds reject. It should check the cheap rules (fee rate, room)
	// before the signatures, as chain/mempool does.
	ProcessTx(tx *chain.Tx) error
}

// ContributionPool holds contributions heard over gossip (pooled mode).
type ContributionPool interface {
	HaveContribution(hash chain.Hash) bool
	Contribution(hash chain.Hash) ([]byte, bool)
	// AddContribution validates a contribution for the block after
	// parent and keeps it. An error wrapping ErrIgnore (stale parent,
	// pool full, duplicate) is not the sender's fault; any other error
	// rejects the message and penalises the sender.
	AddContribution(parent chain.Hash, c []byte) error
}

// ErrIgnore marks an error that says nothing about the sender: wrap it
// (fmt.Errorf("...: %w", p2p.ErrIgnore)) to have a message ignored rather
// than rejected.
var ErrIgnore = ErrorKind("ErrIgnore")

// SnapshotSource serves weights checkpoints for snap sync. A peer's
// request must never make the node compute weights (a replay costs about
// a model application per block): only weights that are already stored
// (checkpoints) are served.
type SnapshotSource interface {
	// LatestSnapshot returns the newest block on the best chain whose
	// weights the node can serve.
	LatestSnapshot() (block chain.Hash, height uint64, ok bool)
	// HasSnapshot reports, without loading anything, whether
	// SnapshotWeights serves block, and the size of its weights in bytes
	// (the network charges the peer before the load).
	HasSnapshot(block chain.Hash) (size int, ok bool)
	// SnapshotWeights returns the weights after block as little-endian
	// float32 bytes (the bytes the state root is computed over) from
	// storage, never by replaying blocks; an error otherwise.
	SnapshotWeights(block chain.Hash) ([]byte, error)
}

// SnapshotSink imports verified weights for snap sync. The network calls
// ImportSnapshot with a header it has linked to its headers chain (and,
// when the Chain is a HeaderProcessor, handed to it with every header
// below it) and weights whose state root equals header.StateRoot, before
// it downloads the bodies up to that header; the chain then connects
// those blocks without replaying their contributions and takes the
// imported weights as the state after header, replaying normally from
// there. An error that BlockVerdict rejects (chain.ErrBadSnapshot: the
// weights do not fit the model, say, although their root matches the
// header, so the header chain is invalid; chain.ErrKnownInvalid) charges
// the peer that led to the snapshot; any other refusal
// (chain.ErrSnapshotUnusable, I/O) does not.
type SnapshotSink interface {
	ImportSnapshot(header *chain.Header, weights []byte) error
}

// HeaderProcessor is implemented by a Chain that indexes headers ahead of
// their bodies (chain.BlockChain.ProcessHeaders). Headers-first sync hands
// it every batch of headers it has checked for linkage and proof of work,
// before fetching bodies, so that the chain checks difficulty and
// timestamps against the parent and knows the branch (and its work) a
// snapshot belongs to. Errors are classified like ProcessBlock's.
type HeaderProcessor interface {
	ProcessHeaders(hdrs []chain.Header) error
	// HeaderWork returns the cumulative work through an indexed header
	// (with or without its body): what lets sync see that a peer's header
	// chain beats our tip before it downloads any body.
	HeaderWork(hash chain.Hash) (*big.Int, bool)
	// CheckLowWork returns an error of kind chain.ErrLowWork when a block
	// with header h would be refused as far below the tip without being
	// asked for (chain.Params.LowWorkMargin): gossip checks it before it
	// fetches a compact block's missing parts.
	CheckLowWork(h *chain.Header) error
}
