package chain

import (
	"math/big"
	"slices"
)

// BlockStatus records what is known about a block in the index. Stores
// persist it next to the header.
type BlockStatus uint8

const (
	// StatusDataStored: the full block is in the store.
	StatusDataStored BlockStatus = 1 << iota
	// StatusValid: the block connected (UTXO and model) at least once.
	StatusValid
	// StatusValidateFailed: the block failed to connect.
	StatusValidateFailed
	// StatusInvalidAncestor: an ancestor failed to connect.
	StatusInvalidAncestor
)

// KnownInvalid reports whether the block or an ancestor failed validation.
func (s BlockStatus) KnownInvalid() bool {
	return s&(StatusValidateFailed|StatusInvalidAncestor) != 0
}

// HaveData reports whether the block's body is stored (or, for a block
// that extends the tip, held until its connect commit). A node without it
// is a header from ProcessHeaders (headers-first sync).
func (s BlockStatus) HaveData() bool { return s&StatusDataStored != 0 }

// blockNode is one header in the index. Nodes link to their parent and
// children; workSum is the chain work from genesis through this block.
// A node without StatusDataStored is header-only (ProcessHeaders): its
// body has not arrived. Every node with data has data in all its
// ancestors (a block is stored only on a parent with data).
type blockNode struct {
	hash     Hash
	parent   *blockNode
	children []*blockNode
	header   Header
	height   uint64
	workSum  *big.Int
	status   BlockStatus
	seq      uint64 // order of arrival, for debugging and stable scans
	unsaved  bool   // data held in memory until its connect commit writes it
}

func newBlockNode(h *Header, parent *blockNode, seq uint64) *blockNode {
	n := &blockNode{hash: h.BlockHash(), parent: parent, header: *h, height: h.Height, seq: seq}
	n.workSum = CalcWork(h.Bits)
	if parent != nil {
		n.workSum.Add(n.workSum, parent.workSum)
	}
	return n
}

// ancestor returns the node's ancestor at height (itself at its own
// height), or nil.
func (n *blockNode) ancestor(height uint64) *blockNode {
	if height > n.height {
		return nil
	}
	for n != nil && n.height > height {
		n = n.parent
	}
	return n
}

// medianTimePast is the median timestamp of the node and its ancestors,
// up to medianTimeBlocks of them.
func (n *blockNode) medianTimePast(count int) int64 {
	ts := make([]int64, 0, count)
	for it := n; it != nil && len(ts) < count; it = it.parent {
		ts = append(ts, it.header.Timestamp)
	}
	return MedianTimePast(ts)
}

// findFork returns the last common ancestor of a and b.
func findFork(a, b *blockNode) *blockNode {
	for a != nil && b != nil && a.height > b.height {
		a = a.parent
	}
	for a != nil && b != nil && b.height > a.height {
		b = b.parent
	}
	for a != nil && b != nil && a != b {
		a, b = a.parent, b.parent
	}
	if a != b {
		return nil
	}
	return a
}

// blockIndex holds every known header. It is guarded by BlockChain.mu.
type blockIndex struct {
	nodes map[Hash]*blockNode
	seq   uint64
}

func newBlockIndex() *blockIndex { return &blockIndex{nodes: make(map[Hash]*blockNode)} }

func (bi *blockIndex) lookup(h Hash) *blockNode { return bi.nodes[h] }

func (bi *blockIndex) add(h *Header, parent *blockNode, status BlockStatus) *blockNode {
	bi.seq++
	n := newBlockNode(h, parent, bi.seq)
	n.status = status
	bi.nodes[n.hash] = n
	if parent != nil {
		parent.children = append(parent.children, n)
	}
	return n
}

// descendants returns every node below n (not n itself), parents first.
func (n *blockNode) descendants() []*blockNode {
	var out []*blockNode
	queue := slices.Clone(n.children)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		out = append(out, c)
		queue = append(queue, c.children...)
	}
	return out
}

// chainView is the main chain as a slice indexed by height.
type chainView []*blockNode

func (c chainView) tip() *blockNode {
	if len(c) == 0 {
		return nil
	}
	return c[len(c)-1]
}

func (c chainView) contains(n *blockNode) bool {
	return n != nil && n.height < uint64(len(c)) && c[n.height] == n
}

func (c chainView) at(height uint64) *blockNode {
	if height >= uint64(len(c)) {
		return nil
	}
	return c[height]
}

// locator returns block hashes from n back to genesis: the 10 newest one
// by one, then doubling the step, always ending with genesis.
func locator(n *blockNode) []Hash {
	var out []Hash
	step := uint64(1)
	for n != nil {
		out = append(out, n.hash)
		if n.height == 0 {
			break
		}
		if len(out) >= 10 {
			step *= 2
		}
		h := uint64(0)
		if n.height > step {
			h = n.height - step
		}
		n = n.ancestor(h)
	}
	return out
}
