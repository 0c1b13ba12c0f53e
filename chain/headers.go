package chain

import (
	"container/heap"
	"math/big"
	"slices"
)

// Header-only index entries, for headers-first sync.
//
// ProcessHeaders puts headers into the block index before their bodies
// arrive, after the checks a header can pass on its own and against its
// parent: version, proof of work, target within the limit, timestamp not
// too far ahead (CheckHeaderSanity), height, the ASERT difficulty and the
// median time past (CheckHeaderContext). Such a node has no
// StatusDataStored: it is never a candidate for the tip, HaveBlock does not
// count it (its body is still wanted), and a block whose parent is one
// waits in the orphan pool. When the body arrives, ProcessBlock fills the
// node in and goes on as for any block. Header-only nodes are kept in
// memory only (a restart forgets them; sync sends them again), at most
// Config.MaxHeaderNodes of them.
//
// What they give: a peer's header chain is checked in full (difficulty and
// timestamps included) before any body is fetched; the cumulative work of
// a branch is known before its bodies are; and a snapshot's block can be
// placed on its branch, which is what makes ImportSnapshot's skip precise.

// DefaultMaxHeaderNodes bounds the header-only entries of the index
// (about 400 bytes each).
const DefaultMaxHeaderNodes = 1 << 21

// DefaultMaxLowWorkHeaders bounds the header-only entries on branches far
// below the tip (see Params.LowWorkMargin): two full headers messages of a
// deep fork that has not yet shown enough work.
const DefaultMaxLowWorkHeaders = 4096

// Anti-DoS (Params.LowWorkMargin). A branch whose cumulative work is below
// lowWorkThreshold — the tip's work minus LowWorkMargin blocks at the
// tip's difficulty — cannot become the main chain without a lot more
// work, yet ASERT lets such a branch (a fork off genesis, say) be built at
// about PowLimit work per block. So:
//
//   - ProcessBlock does not store a block on such a branch (ErrLowWork,
//     which gossip ignores) unless headers-first sync indexed its header
//     on a branch that reaches above the threshold: a block the node asked
//     for because its header chain shows the work;
//   - ProcessHeaders takes a batch that ends above the threshold as it
//     does any; a batch that ends below it (the first messages of a fork
//     deeper than the margin) only into a pool of at most
//     MaxLowWorkHeaders header-only entries, evicting the lowest-work
//     leaves of that pool first and refusing the batch (ErrLowWork) when
//     nothing can go. A later batch that extends such entries above the
//     threshold frees them from the pool; their bodies are stored only
//     then;
//   - when the header-only entries reach MaxHeaderNodes, the header-only
//     leaves below the threshold are pruned (once per tip) before
//     ErrIndexFull.

// lowWorkThreshold returns the work below which a branch is far below the
// tip (zero when the chain is shorter than the margin).
func (bc *BlockChain) lowWorkThreshold() *big.Int {
	tip := bc.main.tip()
	t := new(big.Int).Mul(CalcWork(tip.header.Bits), new(big.Int).SetUint64(bc.p.LowWorkMargin))
	t.Sub(tip.workSum, t)
	if t.Sign() < 0 {
		t.SetInt64(0)
	}
	return t
}

// lowWorkBlock reports whether a block with header h on parent should not
// be stored: its branch is far below the tip and its header was not
// indexed on a branch that reaches above the threshold.
func (bc *BlockChain) lowWorkBlock(hash Hash, h *Header, parent *blockNode) bool {
	if n := bc.index.lookup(hash); n != nil && n.status == 0 {
		if _, low := bc.lowHeaders[n]; !low {
			return false // asked for: indexed with a branch that has the work
		}
	}
	work := CalcWork(h.Bits)
	work.Add(work, parent.workSum)
	return work.Cmp(bc.lowWorkThreshold()) < 0
}

// CheckLowWork returns ErrLowWork if ProcessBlock would refuse a block
// with header h as far below the tip and not asked for (see
// lowWorkThreshold); nil otherwise, also when h's parent has no body yet
// (the block would wait as an orphan). It checks nothing else: call it
// after the header's proof of work was checked, so that its bits measure
// its work.
func (bc *BlockChain) CheckLowWork(h *Header) error {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	parent := bc.index.lookup(h.PrevBlock)
	if parent == nil || !parent.status.HaveData() {
		return nil
	}
	if bc.lowWorkBlock(h.BlockHash(), h, parent) {
		return ruleError(ErrLowWork, "block %s at height %d: its branch has less work than the tip's less %d blocks, and its header was not asked for", h.BlockHash(), h.Height, bc.p.LowWorkMargin)
	}
	return nil
}

// ProcessHeaders adds headers (in chain order) to the block index without
// their bodies. Each must extend the header before it, the first one a
// block or header already in the index; headers already in the index are
// skipped. now is the local clock (unix seconds). It returns how many were
// added and stops at the first that fails: ErrMissingParent (first parent
// unknown), ErrBadHeight or ErrMissingParent (the list does not link up),
// ErrKnownInvalid (it extends a block known to be invalid), ErrTimeTooNew
// (may become valid later), ErrIndexFull (MaxHeaderNodes header-only
// entries held), ErrLowWork (the batch ends far below the tip and the
// low-work pool is full, see lowWorkThreshold), or the rule of
// CheckHeaderSanity or CheckHeaderContext that failed. A header that fails
// is not remembered.
func (bc *BlockChain) ProcessHeaders(hdrs []Header, now int64) (int, error) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.closed {
		return 0, ruleError(ErrClosed, "chain closed")
	}
	if len(hdrs) == 0 {
		return 0, nil
	}
	// The work the batch reaches if it links up: a batch that ends far
	// below the tip goes to the bounded low-work pool.
	low := false
	threshold := bc.lowWorkThreshold()
	first := bc.index.lookup(hdrs[0].PrevBlock)
	if first != nil {
		end := new(big.Int).Set(first.workSum)
		for i := range hdrs {
			end.Add(end, CalcWork(hdrs[i].Bits))
		}
		low = end.Cmp(threshold) < 0
	}
	if low {
		need := 0
		for i := range hdrs {
			if bc.index.lookup(hdrs[i].BlockHash()) == nil {
				need++
			}
		}
		if len(bc.lowHeaders)+need > bc.maxLowHeaders {
			if need <= bc.maxLowHeaders {
				bc.evictLowHeaders(need, first)
			}
			if len(bc.lowHeaders)+need > bc.maxLowHeaders {
				return 0, ruleError(ErrLowWork, "headers after %s: the batch ends below the tip's work less %d blocks, and the %d low-work headers held cannot make room for %d more", hdrs[0].PrevBlock, bc.p.LowWorkMargin, len(bc.lowHeaders), need)
			}
		}
	}
	added := 0
	for i := range hdrs {
		h := &hdrs[i]
		hash := h.BlockHash()
		if n := bc.index.lookup(hash); n != nil {
			if n.status.KnownInvalid() {
				return added, ruleError(ErrKnownInvalid, "header %d (%s) is known to be invalid", i, hash)
			}
			continue
		}
		if i > 0 && h.PrevBlock != hdrs[i-1].BlockHash() {
			return added, ruleError(ErrMissingParent, "header %d (%s) does not extend header %d", i, hash, i-1)
		}
		parent := bc.index.lookup(h.PrevBlock)
		if parent == nil {
			return added, ruleError(ErrMissingParent, "header %d (%s): parent %s unknown", i, hash, h.PrevBlock)
		}
		if parent.status.KnownInvalid() {
			return added, ruleError(ErrKnownInvalid, "header %d (%s): parent %s is known to be invalid", i, hash, parent.hash)
		}
		if err := CheckHeaderSanity(bc.p, h, now, 0); err != nil {
			return added, err
		}
		if err := CheckHeaderContext(bc.p, h, &parent.header, parent.medianTimePast(bc.p.MedianTimeBlocks)); err != nil {
			return added, err
		}
		if bc.headerOnly >= bc.maxHeaders {
			bc.pruneHeaderOnly(threshold, parent)
			if bc.headerOnly >= bc.maxHeaders {
				return added, ruleError(ErrIndexFull, "header %d (%s): the index already holds %d headers without bodies", i, hash, bc.headerOnly)
			}
		}
		n := bc.addNode(h, parent, 0)
		if low {
			bc.lowHeaders[n] = struct{}{}
		}
		added++
	}
	if !low && first != nil {
		// The branch reaches above the threshold: the low-work headers it
		// extends are wanted after all.
		for n := first; n != nil; n = n.parent {
			if _, ok := bc.lowHeaders[n]; !ok {
				break
			}
			delete(bc.lowHeaders, n)
		}
	}
	return added, nil
}

// evictLowHeaders removes leaves of the low-work pool, lowest work first
// (a parent that becomes a leaf joins the candidates), until need more
// entries fit. keep (the parent of the batch being added) stays, and with
// it its ancestors. O(pool · log pool).
func (bc *BlockChain) evictLowHeaders(need int, keep *blockNode) {
	h := &nodeHeap{}
	for n := range bc.lowHeaders {
		if len(n.children) == 0 && n != keep {
			*h = append(*h, n)
		}
	}
	heap.Init(h)
	for len(bc.lowHeaders)+need > bc.maxLowHeaders && h.Len() > 0 {
		n := heap.Pop(h).(*blockNode)
		p := n.parent
		bc.removeHeaderOnly(n)
		if _, low := bc.lowHeaders[p]; low && p != keep && len(p.children) == 0 {
			heap.Push(h, p)
		}
	}
}

// nodeHeap orders nodes by work, then arrival.
type nodeHeap []*blockNode

func (h nodeHeap) Len() int { return len(h) }
func (h nodeHeap) Less(i, j int) bool {
	if c := h[i].workSum.Cmp(h[j].workSum); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h nodeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)   { *h = append(*h, x.(*blockNode)) }
func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

// pruneHeaderOnly removes header-only leaves whose work is below
// threshold, and their header-only ancestors that become such leaves,
// sparing keep (and so its ancestors). It scans the index, so it runs at
// most once per tip.
func (bc *BlockChain) pruneHeaderOnly(threshold *big.Int, keep *blockNode) {
	tip := bc.main.tip()
	if bc.prunedAt == tip {
		return
	}
	bc.prunedAt = tip
	prunable := func(n *blockNode) bool {
		return n != nil && n != keep && n.status == 0 && len(n.children) == 0 && n.workSum.Cmp(threshold) < 0
	}
	var queue []*blockNode
	for _, n := range bc.index.nodes {
		if prunable(n) {
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		p := n.parent
		bc.removeHeaderOnly(n)
		if prunable(p) {
			queue = append(queue, p)
		}
	}
}

// removeHeaderOnly takes a header-only leaf out of the index.
func (bc *BlockChain) removeHeaderOnly(n *blockNode) {
	if n.status != 0 || len(n.children) > 0 {
		return
	}
	delete(bc.index.nodes, n.hash)
	delete(bc.lowHeaders, n)
	bc.headerOnly--
	if p := n.parent; p != nil {
		p.children = slices.DeleteFunc(p.children, func(c *blockNode) bool { return c == n })
	}
	if s := bc.snap; s != nil && s.node == n {
		s.node, s.path = nil, nil
	}
}

// HeaderWork returns the cumulative work from genesis through an indexed
// header (with or without its body).
func (bc *BlockChain) HeaderWork(h Hash) (*big.Int, bool) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if n := bc.index.lookup(h); n != nil {
		return new(big.Int).Set(n.workSum), true
	}
	return nil, false
}

// LowWorkHeaders returns how many header-only entries sit in the low-work
// pool (branches far below the tip that have not shown enough work).
func (bc *BlockChain) LowWorkHeaders() int {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return len(bc.lowHeaders)
}

// HaveHeader reports whether the header is in the index (with or without
// its body).
func (bc *BlockChain) HaveHeader(h Hash) bool {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.index.lookup(h) != nil
}

// addNode adds a header to the index with status, or, for a header-only
// node already there, adds status to it (a body arriving). It binds a
// pending snapshot to its block.
func (bc *BlockChain) addNode(h *Header, parent *blockNode, status BlockStatus) *blockNode {
	if n := bc.index.lookup(h.BlockHash()); n != nil {
		if n.status == 0 && status != 0 {
			bc.headerOnly--
		}
		n.status |= status
		return n
	}
	n := bc.index.add(h, parent, status)
	if status == 0 {
		bc.headerOnly++
	}
	if bc.snap != nil && bc.snap.node == nil && n.hash == bc.snap.hash {
		bc.bindSnapshot(n)
	}
	return n
}
