package chain

import (
	"math"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// Snap sync: trusting a weights snapshot for the blocks below it.
//
// A node that joins late can take the model weights after a recent block S
// from a peer (verified against S's state root) instead of replaying every
// contribution from genesis. ImportSnapshot records them as the pending
// snapshot. The chain then connects the blocks of S's branch as usual —
// header, proof of work, difficulty, timestamps, every transaction rule,
// UTXO set, signatures, coinbase value, the contributions' encoding,
// signatures, parent and contributor rules and the gradient root — except
// for the weights: a block that is an ancestor of S (strictly below it, on
// S's branch) is connected without applying its contributions and without
// comparing its state root with replayed weights (only a block without
// contributions must still repeat its parent's state root, which needs no
// weights); S itself takes the snapshot's weights as the weights after it;
// every block after S is replayed and its state root checked. The skip
// applies to nothing else: not to a block of another branch, not to a
// block that connects while S's header is not yet in the index, and not
// once the record is dropped: when S connects, when the main chain reaches
// S's height on other blocks, or when S or an ancestor proves invalid.
//
// What is assumed: that the state roots of S and its ancestors are what
// replaying their contributions gives (as Bitcoin's assumevalid assumes
// the signatures below a block). It is backed by the proof of work on top
// of S and checked against nothing else; everything else is verified.
//
// While S has not connected, the weights after the tip (an ancestor of S)
// are not known: Weights, WeightsAt and CheckBlockTemplate rebuild them by
// replaying from genesis (or a checkpoint) with every state root checked,
// which is slow; PendingSnapshot tells callers to wait instead. After S has
// connected, WeightsAt of a block below S also replays from genesis (no
// checkpoint exists below S) with full verification, and a reorg that
// forks below S replays the new branch the same way: the snapshot trust
// never extends to a branch other than S's.
//
// Persistence: ImportSnapshot writes the weights as S's weight checkpoint
// (pinned against pruning) and S's header as the marker file
// snapshot-pending in the checkpoint directory, so a restart keeps the
// snapshot; headers are not stored, so after a restart the skip resumes
// once S's header is back in the index (ProcessHeaders during
// headers-first sync, or S's block itself). Without a checkpoint directory
// the snapshot lives in memory only.

// pendingSnapshot is an imported snapshot whose block has not connected.
type pendingSnapshot struct {
	header  Header
	hash    Hash
	weights []float32
	// node is S in the index and path[h] its ancestor at height h; both
	// nil while S's header is not in the index (after a restart).
	node *blockNode
	path []*blockNode
}

// snapRole is how a block connects with respect to the pending snapshot.
type snapRole int

const (
	roleReplay   snapRole = iota // apply its contributions, check its state root
	roleAssumed                  // an ancestor of the snapshot block: no replay
	roleSnapshot                 // the snapshot block: its weights are the snapshot's
)

func (bc *BlockChain) roleOf(n *blockNode) snapRole {
	s := bc.snap
	if s == nil || s.node == nil || n.height >= uint64(len(s.path)) || s.path[n.height] != n {
		return roleReplay
	}
	if n == s.node {
		return roleSnapshot
	}
	return roleAssumed
}

// ImportSnapshot takes weights as the model state after block h, for snap
// sync (see the package documentation above pendingSnapshot). It checks
// that the weights have the model's length, are finite and hash to
// h.StateRoot (ErrBadSnapshot: the snapshot, or the header chain that
// commits to it, is invalid), and that the chain can use them
// (ErrSnapshotUnusable otherwise): h must be in the block index (its
// headers linked by ProcessHeaders, or its block stored), not known
// invalid (ErrKnownInvalid), above the main chain's tip, and on a branch
// with more work than the tip. Importing the weights of a block already on
// the main chain, or the pending snapshot again, does nothing. A new
// snapshot replaces a pending one. The weights are written as h's
// checkpoint before ImportSnapshot returns (ErrStore if that fails) and
// kept (not copied: the caller must not change them afterwards).
func (bc *BlockChain) ImportSnapshot(h Header, weights []float32) error {
	if err := checkSnapshotWeights(bc.p, &h, weights); err != nil {
		return err
	}
	hash := h.BlockHash()
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.closed {
		return ruleError(ErrClosed, "chain closed")
	}
	if bc.failed != nil {
		return bc.failed
	}
	n := bc.index.lookup(hash)
	if n == nil {
		return ruleError(ErrSnapshotUnusable, "snapshot block %s (height %d): header not in the block index (process its headers first)", hash, h.Height)
	}
	if bc.main.contains(n) {
		return nil // connected: its weights are ours already (same root)
	}
	if s := bc.snap; s != nil && s.hash == hash {
		return nil
	}
	path, err := bc.snapshotPath(n)
	if err != nil {
		return err
	}
	w := weights
	oldPin := Hash{}
	if bc.snap != nil {
		oldPin = bc.snap.hash
	}
	bc.ckpt.setPin(hash)
	if err := bc.ckpt.save(n.height, hash, w); err != nil {
		bc.ckpt.setPin(oldPin)
		return err
	}
	if err := bc.ckpt.savePending(&h); err != nil {
		bc.ckpt.setPin(oldPin)
		return err
	}
	bc.snap = &pendingSnapshot{header: h, hash: hash, weights: w, node: n, path: path}
	return nil
}

// PendingSnapshot returns the block of the pending snapshot: imported, not
// yet connected. While the tip is below it the weights after the tip are
// rebuilt only on demand, by a full replay; trainers and evaluators should
// wait for it to connect.
func (bc *BlockChain) PendingSnapshot() (hash Hash, height uint64, ok bool) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if s := bc.snap; s != nil {
		return s.hash, s.header.Height, true
	}
	return Hash{}, 0, false
}

// checkSnapshotWeights checks what needs no chain state.
func checkSnapshotWeights(p *Params, h *Header, w []float32) error {
	hash := h.BlockHash()
	if d := p.Training.ParamCount(); len(w) != d {
		return ruleError(ErrBadSnapshot, "snapshot for block %s: %d weights, the model has %d", hash, len(w), d)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return ruleError(ErrBadSnapshot, "snapshot for block %s: weight %d is %v", hash, i, v)
		}
	}
	if root := Hash(p.Training.Root(w)); root != h.StateRoot {
		return ruleError(ErrBadSnapshot, "snapshot for block %s: weights have root %s, the header's state root is %s", hash, root, h.StateRoot)
	}
	return nil
}

// snapshotPath checks that the chain can take a snapshot at n (not on the
// main chain) and returns n's ancestors by height.
func (bc *BlockChain) snapshotPath(n *blockNode) ([]*blockNode, error) {
	tip := bc.main.tip()
	switch {
	case n.status.KnownInvalid():
		return nil, ruleError(ErrKnownInvalid, "snapshot block %s is known to be invalid", n.hash)
	case n.height == 0:
		return nil, ruleError(ErrSnapshotUnusable, "snapshot block %s is a genesis block", n.hash)
	case tip.height >= n.height:
		return nil, ruleError(ErrSnapshotUnusable, "snapshot block %s at height %d: the main chain is at height %d on other blocks (replay instead)", n.hash, n.height, tip.height)
	case n.workSum.Cmp(tip.workSum) <= 0:
		return nil, ruleError(ErrSnapshotUnusable, "snapshot block %s: its branch has work %s, not more than the tip's %s", n.hash, n.workSum, tip.workSum)
	}
	path := make([]*blockNode, n.height+1)
	for it := n; it != nil; it = it.parent {
		path[it.height] = it
	}
	return path, nil
}

// bindSnapshot links the pending snapshot to its block's index node n
// when that enters the index (after a restart), or drops the snapshot if
// the chain can no longer use it.
func (bc *BlockChain) bindSnapshot(n *blockNode) {
	s := bc.snap
	if s == nil || s.node != nil || n.hash != s.hash {
		return
	}
	path, err := bc.snapshotPath(n)
	if err != nil {
		bc.clearSnapshot()
		return
	}
	s.node, s.path = n, path
}

// clearSnapshot drops the pending snapshot (its checkpoint stays, as an
// ordinary one).
func (bc *BlockChain) clearSnapshot() {
	if bc.snap == nil {
		return
	}
	bc.snap = nil
	bc.ckpt.clearPending()
}

// restoreSnapshot loads a pending snapshot recorded before a restart (New,
// before the index is loaded). A marker whose checkpoint is missing or
// does not verify is dropped.
func (bc *BlockChain) restoreSnapshot() {
	h, ok := bc.ckpt.loadPending()
	if !ok {
		bc.ckpt.clearPending()
		return
	}
	hash := h.BlockHash()
	w, ok := bc.ckpt.load(hash, h.StateRoot)
	if !ok || checkSnapshotWeights(bc.p, &h, w) != nil {
		bc.ckpt.clearPending()
		return
	}
	bc.ckpt.setPin(hash)
	bc.snap = &pendingSnapshot{header: h, hash: hash, weights: w}
}

// checkContributions runs every check of Apply that does not need the
// weights, for a block connected under a snapshot: each contribution
// passes state.VerifyContribution (size, canonical encoding, sketch and
// dimension, finite payload, signature) and is for the block's parent, at
// most MaxContributions of them, no contributor twice; and a block without
// contributions repeats its parent's state root.
func checkContributions(p *Params, blk *Block, parentRoot Hash) error {
	h := &blk.Header
	if len(blk.Contributions) == 0 {
		if h.StateRoot != parentRoot {
			return ruleError(ErrBadStateRoot, "block %s: no contributions, but state root %s differs from the parent's %s", h.BlockHash(), h.StateRoot, parentRoot)
		}
		return nil
	}
	if n := len(blk.Contributions); n > p.Training.MaxContributions {
		return ruleError(ErrBadContribution, "block %s: %d contributions, limit %d", h.BlockHash(), n, p.Training.MaxContributions)
	}
	seen := make(map[[32]byte]int, len(blk.Contributions))
	for i, raw := range blk.Contributions {
		c, err := state.VerifyContribution(p.Training, raw)
		if err != nil {
			return ruleError(ErrBadContribution, "block %s contribution %d: %v", h.BlockHash(), i, err)
		}
		if Hash(c.Parent) != h.PrevBlock {
			return ruleError(ErrBadContribution, "block %s contribution %d: for parent %s, the block's parent is %s", h.BlockHash(), i, Hash(c.Parent), h.PrevBlock)
		}
		if k, dup := seen[c.PubKey]; dup {
			return ruleError(ErrBadContribution, "block %s: contributions %d and %d have the same contributor", h.BlockHash(), k, i)
		}
		seen[c.PubKey] = i
	}
	return nil
}
