package p2p

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
)

// ChainAdapter adapts *chain.BlockChain to Chain, HeaderProcessor,
// SnapshotSource and SnapshotSink.
type ChainAdapter struct {
	BC *chain.BlockChain
	// Now is the local clock passed to the chain (nil: time.Now).
	Now func() time.Time
	// SnapshotInterval: the adapter offers the weights after the newest
	// main-chain block whose height is a positive multiple of it and that
	// has a weight checkpoint (the chain writes them at its checkpoint
	// interval), so that peers offer the same snapshots. Zero: no
	// snapshots are offered. Any main-chain checkpoint is served on
	// request; nothing else (no replay on a peer's behalf).
	SnapshotInterval uint64
}

// NewChainAdapter returns an adapter that offers snapshots at
// chain.DefaultCheckpointInterval.
func NewChainAdapter(bc *chain.BlockChain) *ChainAdapter {
	return &ChainAdapter{BC: bc, SnapshotInterval: chain.DefaultCheckpointInterval}
}

func (a *ChainAdapter) now() int64 {
	if a.Now != nil {
		return a.Now().Unix()
	}
	return time.Now().Unix()
}

// GenesisHash implements Chain.
func (a *ChainAdapter) GenesisHash() chain.Hash { return a.BC.Params().GenesisHash }

// BestTip implements Chain.
func (a *ChainAdapter) BestTip() Tip {
	t := a.BC.Tip()
	return Tip{Hash: t.Hash, Height: t.Height, Work: t.Work}
}

// HaveBlock implements Chain (blocks in the orphan pool and blocks known
// invalid count as had: neither needs fetching again).
func (a *ChainAdapter) HaveBlock(h chain.Hash) bool { return a.BC.HaveBlock(h) }

// BlockByHash implements Chain.
func (a *ChainAdapter) BlockByHash(h chain.Hash) (*chain.Block, error) { return a.BC.BlockByHash(h) }

// BlockSize implements Chain.
func (a *ChainAdapter) BlockSize(h chain.Hash) (int, error) { return a.BC.BlockSize(h) }

// BlockBytes implements Chain.
func (a *ChainAdapter) BlockBytes(h chain.Hash) ([]byte, error) { return a.BC.BlockBytes(h) }

// Locator implements Chain.
func (a *ChainAdapter) Locator() []chain.Hash {
	loc, err := a.BC.BlockLocator(chain.ZeroHash)
	if err != nil {
		return []chain.Hash{a.BC.Params().GenesisHash}
	}
	return loc
}

// HeadersAfter implements Chain.
func (a *ChainAdapter) HeadersAfter(loc []chain.Hash, stop chain.Hash, max int) []chain.Header {
	return a.BC.LocateHeaders(loc, stop, max)
}

// CheckHeader implements Chain with chain.CheckHeaderSanity.
func (a *ChainAdapter) CheckHeader(h *chain.Header) error {
	return chain.CheckHeaderSanity(a.BC.Params(), h, a.now(), 0)
}

// ProcessBlock implements Chain; an orphan is reported as
// chain.ErrMissingParent (the block stays in the chain's orphan pool).
func (a *ChainAdapter) ProcessBlock(b *chain.Block) error {
	res, err := a.BC.ProcessBlock(b, a.now())
	if err != nil {
		return err
	}
	if res.Orphan {
		return chain.RuleError{Err: chain.ErrMissingParent, Description: "block " + res.Hash.String() + ": parent unknown (kept as orphan)"}
	}
	return nil
}

// ProcessHeaders implements HeaderProcessor with
// chain.BlockChain.ProcessHeaders.
func (a *ChainAdapter) ProcessHeaders(hdrs []chain.Header) error {
	_, err := a.BC.ProcessHeaders(hdrs, a.now())
	return err
}

// HeaderWork implements HeaderProcessor with chain.BlockChain.HeaderWork.
func (a *ChainAdapter) HeaderWork(h chain.Hash) (*big.Int, bool) { return a.BC.HeaderWork(h) }

// CheckLowWork implements HeaderProcessor with
// chain.BlockChain.CheckLowWork.
func (a *ChainAdapter) CheckLowWork(h *chain.Header) error { return a.BC.CheckLowWork(h) }

// ImportSnapshot implements SnapshotSink with
// chain.BlockChain.ImportSnapshot.
func (a *ChainAdapter) ImportSnapshot(h *chain.Header, weights []byte) error {
	if h == nil || len(weights)%4 != 0 {
		return chain.RuleError{Err: chain.ErrBadSnapshot, Description: fmt.Sprintf("snapshot of %d bytes: not whole float32 values", len(weights))}
	}
	return a.BC.ImportSnapshot(*h, WeightsFromBytes(weights))
}

// LatestSnapshot implements SnapshotSource. Nothing is offered while the
// chain itself waits for a snapshot to connect (the weights below it would
// cost a replay from genesis).
func (a *ChainAdapter) LatestSnapshot() (chain.Hash, uint64, bool) {
	if a.SnapshotInterval == 0 {
		return chain.Hash{}, 0, false
	}
	if _, _, pending := a.BC.PendingSnapshot(); pending {
		return chain.Hash{}, 0, false
	}
	return a.BC.LatestCheckpoint(a.SnapshotInterval)
}

// HasSnapshot implements SnapshotSource: main-chain blocks with a weight
// checkpoint.
func (a *ChainAdapter) HasSnapshot(block chain.Hash) (int, bool) {
	if a.SnapshotInterval == 0 || !a.BC.HasCheckpoint(block) {
		return 0, false
	}
	return 4 * a.BC.Params().Training.ParamCount(), true
}

// SnapshotWeights implements SnapshotSource from the block's checkpoint
// (chain.BlockChain.CheckpointWeights): never a replay.
func (a *ChainAdapter) SnapshotWeights(block chain.Hash) ([]byte, error) {
	if a.SnapshotInterval == 0 {
		return nil, chain.RuleError{Err: chain.ErrNotFound, Description: "snapshots are not served"}
	}
	w, err := a.BC.CheckpointWeights(block)
	if err != nil {
		return nil, err
	}
	return WeightsBytes(w), nil
}

// WeightsBytes returns w's little-endian IEEE 754 bytes (the bytes the
// state root is computed over).
func WeightsBytes(w []float32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// WeightsFromBytes is WeightsBytes' inverse (len(b) must be a multiple
// of 4; a trailing partial float is ignored).
func WeightsFromBytes(b []byte) []float32 {
	w := make([]float32, len(b)/4)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return w
}

var (
	_ Chain           = (*ChainAdapter)(nil)
	_ HeaderProcessor = (*ChainAdapter)(nil)
	_ SnapshotSource  = (*ChainAdapter)(nil)
	_ SnapshotSink    = (*ChainAdapter)(nil)
)
