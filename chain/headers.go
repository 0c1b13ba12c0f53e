package chain

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

// ProcessHeaders adds headers (in chain order) to the block index without
// their bodies. Each must extend the header before it, the first one a
// block or header already in the index; headers already in the index are
// skipped. now is the local clock (unix seconds). It returns how many were
// added and stops at the first that fails: ErrMissingParent (first parent
// unknown), ErrBadHeight or ErrMissingParent (the list does not link up),
// ErrKnownInvalid (it extends a block known to be invalid), ErrTimeTooNew
// (may become valid later), ErrIndexFull (MaxHeaderNodes header-only
// entries held), or the rule of CheckHeaderSanity or CheckHeaderContext
// that failed. A header that fails is not remembered.
func (bc *BlockChain) ProcessHeaders(hdrs []Header, now int64) (int, error) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.closed {
		return 0, ruleError(ErrClosed, "chain closed")
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
			return added, ruleError(ErrIndexFull, "header %d (%s): the index already holds %d headers without bodies", i, hash, bc.headerOnly)
		}
		bc.addNode(h, parent, 0)
		added++
	}
	return added, nil
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
