package chain

import (
	"errors"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// Config configures a BlockChain.
type Config struct {
	// Params are the network's consensus parameters (required).
	Params *Params
	// Store holds blocks, the UTXO set and the chain state (required).
	// The BlockChain does not close it.
	Store Store
	// CheckpointDir is where weight checkpoints are written. Empty keeps
	// them in memory only (restarts then replay from genesis).
	CheckpointDir string
	// CheckpointInterval: a checkpoint after every main-chain block whose
	// height is a multiple of it (default DefaultCheckpointInterval).
	CheckpointInterval uint64
	// CheckpointKeep: how many checkpoints to keep (default DefaultCheckpointKeep).
	CheckpointKeep int
	// MaxOrphans, MaxOrphanBytes and OrphanTTL (seconds) bound the orphan
	// pool (defaults DefaultMaxOrphans, DefaultMaxOrphanBytes raised to
	// Params.MaxBlockSize if smaller, DefaultOrphanTTL).
	MaxOrphans     int
	MaxOrphanBytes int
	OrphanTTL      int64
	// Backend, if set, does the de-sketch of Apply (a GPU implementation
	// of state.Backend, bit-identical to the CPU reference); nil: the CPU
	// reference. Its results are trusted only when they reproduce the
	// header's state root: an error or another root makes the CPU
	// reference apply the block again, and only the CPU's verdict marks a
	// block invalid (BackendFallbacks counts these). CheckBlockTemplate
	// always uses the CPU reference.
	Backend state.Backend
	// MaxHeaderNodes bounds the header-only entries of the block index
	// (ProcessHeaders; default DefaultMaxHeaderNodes).
	MaxHeaderNodes int
	// MaxLowWorkHeaders bounds the header-only entries on branches far
	// below the tip (Params.LowWorkMargin; default DefaultMaxLowWorkHeaders).
	MaxLowWorkHeaders int
}

// ProcessResult says what ProcessBlock did with a block.
type ProcessResult struct {
	Hash       Hash
	Height     uint64
	Orphan     bool   // parent unknown: held in the orphan pool
	MainChain  bool   // the block is on the main chain afterwards
	TipChanged bool   // the tip moved
	Reorged    bool   // blocks were disconnected (the tip moved to another branch)
	Accepted   []Hash // orphans that waited for this block and were then accepted, in order
}

// TipEvent describes one change of the tip. Disconnected lists the blocks
// taken off the main chain, old tip first; Connected the blocks put on it,
// oldest first. A mempool returns the transactions of Disconnected blocks
// and drops those of Connected ones.
//
// In a reorg deeper than ReorgFullBlocks, only the ReorgFullBlocks newest
// blocks of each list are whole: the older ones carry their header and
// transactions but not their contributions (Contributions nil; the header
// still commits to them; BlockByHash has them), so that a deep reorg does
// not hold every contribution of both branches in memory.
type TipEvent struct {
	Hash         Hash
	Height       uint64
	Header       Header
	Connected    []*Block
	Disconnected []*Block
}

// ReorgFullBlocks is how many blocks of each side of a reorg stay whole
// in memory (and in the TipEvent); see TipEvent.
const ReorgFullBlocks = 8

// withoutContributions returns b without its contributions (b itself if
// it has none): header and transactions only.
func (b *Block) withoutContributions() *Block {
	if len(b.Contributions) == 0 {
		return b
	}
	return &Block{Header: b.Header, Txs: b.Txs}
}

// ChainTip describes the main chain's tip and what a block template on top
// of it needs.
type ChainTip struct {
	Hash       Hash
	Height     uint64
	Header     Header
	Work       *big.Int // cumulative work through the tip
	Supply     uint64   // Σ of the UTXO set's values
	MedianTime int64    // median time past of the tip: a child's timestamp must exceed it
	NextBits   uint32   // the bits a child must claim
}

// BlockChain is the chain state machine: the block index, the main chain,
// the UTXO set (in the Store), the model weights at the tip, and the orphan
// pool. It is safe for concurrent use; ProcessBlock calls are serialized.
type BlockChain struct {
	p        *Params
	store    Store
	interval uint64

	mu    sync.RWMutex
	index *blockIndex
	main  chainView
	// weights after the tip; nil while they are not known (the tip is
	// below a pending snapshot, see ImportSnapshot): rebuilt on demand.
	weights    []float32
	snap       *pendingSnapshot // imported snapshot whose block has not connected
	headerOnly int              // index entries with status 0 (ProcessHeaders)
	maxHeaders int
	// lowHeaders: header-only entries admitted on a branch far below the
	// tip (see lowWorkThreshold); their bodies are not stored.
	lowHeaders    map[*blockNode]struct{}
	maxLowHeaders int
	prunedAt      *blockNode // tip at the last pruneHeaderOnly
	supply        uint64
	orphans       *orphanPool
	ckpt          *checkpointer
	backend       state.Backend // de-sketch for Apply (nil: CPU reference)
	fallbacks     atomic.Uint64 // blocks the CPU reference redid after the backend failed or disagreed
	failed        error         // a store write failed: the in-memory state may be ahead of the store
	rescan        bool          // an activation stopped on a store error: scan the index next time
	closed        bool

	subsMu sync.Mutex
	subs   map[uint64]func(TipEvent)
	subSeq uint64
	// notifyMu orders event delivery: taken before mu is released.
	notifyMu sync.Mutex
}

// ErrClosed is returned by a BlockChain after Close.
const ErrClosed = ErrorKind("ErrClosed")

// New opens the chain in cfg.Store: a fresh store gets the genesis block;
// an existing one has its block index loaded, its weights rebuilt from the
// newest checkpoint on the main chain plus replay, and, if a stored branch
// has more work than the stored tip (a crash in the middle of a reorg), the
// reorg finished.
func New(cfg Config) (*BlockChain, error) {
	if cfg.Params == nil || cfg.Store == nil {
		return nil, ruleError(ErrBadParams, "chain: Config needs Params and Store")
	}
	p := cfg.Params
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ck, err := newCheckpointer(cfg.CheckpointDir, cfg.CheckpointKeep, p.Training.ChunkSize)
	if err != nil {
		return nil, err
	}
	bc := &BlockChain{
		p:             p,
		store:         cfg.Store,
		interval:      cfg.CheckpointInterval,
		index:         newBlockIndex(),
		orphans:       newOrphanPool(cfg.MaxOrphans, orphanBytes(cfg.MaxOrphanBytes, p.MaxBlockSize), cfg.OrphanTTL),
		ckpt:          ck,
		subs:          make(map[uint64]func(TipEvent)),
		backend:       cfg.Backend,
		maxHeaders:    cfg.MaxHeaderNodes,
		lowHeaders:    make(map[*blockNode]struct{}),
		maxLowHeaders: cfg.MaxLowWorkHeaders,
	}
	if bc.maxLowHeaders <= 0 {
		bc.maxLowHeaders = DefaultMaxLowWorkHeaders
	}
	if bc.interval == 0 {
		bc.interval = DefaultCheckpointInterval
	}
	if bc.maxHeaders <= 0 {
		bc.maxHeaders = DefaultMaxHeaderNodes
	}
	bc.restoreSnapshot()
	st, ok, err := bc.store.State()
	if err != nil {
		return nil, storeErr("read chain state", err)
	}
	if !ok {
		if st, err = bc.initGenesis(); err != nil {
			return nil, err
		}
	}
	if err := bc.loadIndex(); err != nil {
		return nil, err
	}
	if bc.index.lookup(p.GenesisHash) == nil {
		return nil, ruleError(ErrBadGenesis, "store does not hold the %s genesis block %s (another network's data?)", p.Name, p.GenesisHash)
	}
	tip := bc.index.lookup(st.Tip)
	if tip == nil {
		return nil, ruleError(ErrStore, "stored tip %s is not in the block index", st.Tip)
	}
	bc.main = make(chainView, tip.height+1)
	for n := tip; n != nil; n = n.parent {
		if n.height >= uint64(len(bc.main)) {
			return nil, ruleError(ErrStore, "block index: bad height at %s", n.hash)
		}
		bc.main[n.height] = n
	}
	if bc.main[0] == nil || bc.main[0].hash != p.GenesisHash {
		return nil, ruleError(ErrBadGenesis, "stored main chain does not start at genesis %s", p.GenesisHash)
	}
	bc.supply = st.Supply
	if s := bc.snap; s != nil {
		if n := bc.index.lookup(s.hash); n != nil && bc.main.contains(n) {
			bc.clearSnapshot() // connected just before a crash
		} else if n != nil {
			bc.bindSnapshot(n)
		} else if tip.height >= s.header.Height {
			bc.clearSnapshot()
		}
	}
	if s := bc.snap; s == nil || tip.height >= s.header.Height {
		w, err := bc.weightsAt(tip)
		if err != nil {
			return nil, err
		}
		bc.weights = w
	} // else: the tip is below a pending snapshot; its weights on demand
	bc.mu.Lock()
	_, _, err = bc.activateBestChain(nil, nil)
	bc.mu.Unlock()
	if err != nil && isStoreErr(err) {
		return nil, err
	}
	return bc, nil
}

func orphanBytes(configured, maxBlock int) int {
	if configured <= 0 {
		configured = DefaultMaxOrphanBytes
	}
	return max(configured, maxBlock)
}

func (bc *BlockChain) initGenesis() (ChainState, error) {
	g := bc.p.GenesisBlock
	status := StatusDataStored | StatusValid
	if err := bc.store.PutBlock(g, status); err != nil {
		return ChainState{}, storeErr("store genesis", err)
	}
	st := ChainState{Tip: bc.p.GenesisHash}
	u := &StateUpdate{Block: bc.p.GenesisHash, Connect: true, Status: status, State: st, Undo: EncodeUndo(nil)}
	if err := bc.store.Commit(u); err != nil {
		return ChainState{}, storeErr("connect genesis", err)
	}
	return st, nil
}

func (bc *BlockChain) loadIndex() error {
	type rec struct {
		h Header
		s BlockStatus
	}
	var recs []rec
	err := bc.store.ForEachHeader(func(h *Header, s BlockStatus) error {
		recs = append(recs, rec{*h, s})
		return nil
	})
	if err != nil {
		return storeErr("load block index", err)
	}
	slices.SortStableFunc(recs, func(a, b rec) int {
		switch {
		case a.h.Height < b.h.Height:
			return -1
		case a.h.Height > b.h.Height:
			return 1
		}
		return 0
	})
	for _, r := range recs {
		var parent *blockNode
		if r.h.Height == 0 {
			if r.h.BlockHash() != bc.p.GenesisHash {
				continue
			}
		} else if parent = bc.index.lookup(r.h.PrevBlock); parent == nil {
			continue // cannot happen: blocks are stored only after their parent
		}
		st := r.s
		if parent != nil && parent.status.KnownInvalid() {
			st |= StatusInvalidAncestor
		}
		bc.index.add(&r.h, parent, st)
	}
	return nil
}

// Params returns the chain's parameters.
func (bc *BlockChain) Params() *Params { return bc.p }

// Close writes a checkpoint of the tip weights and makes further
// ProcessBlock calls fail with ErrClosed. It does not close the Store.
func (bc *BlockChain) Close() error {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.closed {
		return nil
	}
	bc.closed = true
	tip := bc.main.tip()
	if bc.ckpt.dir != "" && bc.failed == nil && tip.height > 0 && bc.weights != nil {
		return bc.ckpt.save(tip.height, tip.hash, bc.weights)
	}
	return nil
}

// Subscribe registers fn to be called after every tip change, in order,
// from the goroutine that changed the tip, after the chain's lock is
// released (so fn may query the chain, but must not call ProcessBlock,
// which would deadlock). The returned function unsubscribes.
func (bc *BlockChain) Subscribe(fn func(TipEvent)) (cancel func()) {
	bc.subsMu.Lock()
	defer bc.subsMu.Unlock()
	bc.subSeq++
	id := bc.subSeq
	bc.subs[id] = fn
	return func() {
		bc.subsMu.Lock()
		delete(bc.subs, id)
		bc.subsMu.Unlock()
	}
}

// unlockAndNotify releases mu and delivers events in order.
func (bc *BlockChain) unlockAndNotify(events []TipEvent) {
	if len(events) == 0 {
		bc.mu.Unlock()
		return
	}
	bc.notifyMu.Lock()
	bc.mu.Unlock()
	defer bc.notifyMu.Unlock()
	bc.subsMu.Lock()
	ids := make([]uint64, 0, len(bc.subs))
	for id := range bc.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fns := make([]func(TipEvent), len(ids))
	for i, id := range ids {
		fns[i] = bc.subs[id]
	}
	bc.subsMu.Unlock()
	for _, ev := range events {
		for _, fn := range fns {
			fn(ev)
		}
	}
}

// ProcessBlock validates blk and adds it to the chain. now is the local
// clock (unix seconds). Checks run cheapest first and nothing changes until
// a block passed all of them:
//
//  1. known blocks: ErrDuplicateBlock, or ErrKnownInvalid if it (or an
//     ancestor) failed to connect before;
//  2. CheckBlockSanity (no parent needed). A failure here is not
//     remembered: a body that does not match its header must not make the
//     header's hash invalid (CVE-2012-2459);
//  3. unknown parent: the block waits in the orphan pool (result Orphan);
//  4. CheckHeaderContext against the parent; then the block is stored;
//  5. if its branch has more work than the tip, the chain reorganizes:
//     every block to attach is validated against the UTXO set and the
//     weights rolled back to the fork point (connect rules, state root);
//     a failure marks the block and its descendants invalid and leaves the
//     tip where it was;
//  6. orphans waiting for this block are processed the same way.
//
// Errors are RuleErrors (errors.Is with an ErrorKind); ErrStore means I/O.
func (bc *BlockChain) ProcessBlock(blk *Block, now int64) (ProcessResult, error) {
	bc.mu.Lock()
	var events []TipEvent
	defer func() { bc.unlockAndNotify(events) }()
	if bc.closed {
		return ProcessResult{}, ruleError(ErrClosed, "chain closed")
	}
	if bc.failed != nil {
		return ProcessResult{}, bc.failed
	}
	if blk == nil {
		return ProcessResult{}, ruleError(ErrNoTransactions, "nil block")
	}
	hash := blk.Hash()
	res := ProcessResult{Hash: hash, Height: blk.Header.Height}
	bc.orphans.expire(now)
	if n := bc.index.lookup(hash); n != nil {
		if n.status.KnownInvalid() {
			return res, ruleError(ErrKnownInvalid, "block %s is known to be invalid", hash)
		}
		if n.status.HaveData() {
			return res, ruleError(ErrDuplicateBlock, "block %s already known", hash)
		}
		// header-only (ProcessHeaders): the body is new
	}
	if bc.orphans.has(hash) {
		return res, ruleError(ErrDuplicateBlock, "block %s already in the orphan pool", hash)
	}
	// Anti-DoS before the costly checks: a block far below the tip that
	// nobody asked for is not even checked (its proof of work is, so that
	// its bits can be trusted to measure its work).
	if parent := bc.index.lookup(blk.Header.PrevBlock); parent != nil && parent.status.HaveData() && !parent.status.KnownInvalid() {
		if err := CheckHeaderSanity(bc.p, &blk.Header, now, 0); err != nil {
			return res, err
		}
		if bc.lowWorkBlock(hash, &blk.Header, parent) {
			return res, ruleError(ErrLowWork, "block %s at height %d: its branch has less work than the tip's less %d blocks, and its header was not asked for", hash, blk.Header.Height, bc.p.LowWorkMargin)
		}
	}
	if err := CheckBlockSanity(bc.p, blk, now, 0); err != nil {
		return res, err
	}
	if blk.Header.PrevBlock.IsZero() || blk.Header.Height == 0 {
		return res, ruleError(ErrBadGenesis, "block %s claims to be a genesis block", hash)
	}
	parent := bc.index.lookup(blk.Header.PrevBlock)
	if parent == nil || (!parent.status.HaveData() && !parent.status.KnownInvalid()) {
		bc.orphans.add(blk, hash, now)
		res.Orphan = true
		return res, nil
	}
	oldTip := bc.main.tip()
	evs, err := bc.acceptBlock(blk, hash, parent)
	events = append(events, evs...)
	if err != nil {
		bc.finishResult(&res, oldTip, events)
		return res, err
	}
	// Orphans that waited for this block (and their own children).
	queue := []Hash{hash}
	for len(queue) > 0 {
		ph := queue[0]
		queue = queue[1:]
		for _, child := range bc.orphans.takeChildren(ph) {
			pn := bc.index.lookup(ph)
			ch := child.Hash()
			if cn := bc.index.lookup(ch); pn == nil || (cn != nil && (cn.status.HaveData() || cn.status.KnownInvalid())) {
				continue
			}
			evs, err := bc.acceptBlock(child, ch, pn)
			events = append(events, evs...)
			if err != nil {
				if isStoreErr(err) {
					bc.finishResult(&res, oldTip, events)
					return res, err
				}
				continue
			}
			res.Accepted = append(res.Accepted, ch)
			queue = append(queue, ch)
		}
	}
	bc.finishResult(&res, oldTip, events)
	return res, nil
}

func (bc *BlockChain) finishResult(res *ProcessResult, oldTip *blockNode, events []TipEvent) {
	if n := bc.index.lookup(res.Hash); n != nil {
		res.MainChain = bc.main.contains(n)
	}
	res.TipChanged = bc.main.tip() != oldTip
	for _, ev := range events {
		if len(ev.Disconnected) > 0 {
			res.Reorged = true
		}
	}
}

// acceptBlock checks blk against its parent, stores it, and makes the
// most-work valid branch the main chain.
func (bc *BlockChain) acceptBlock(blk *Block, hash Hash, parent *blockNode) ([]TipEvent, error) {
	h := &blk.Header
	if parent.status.KnownInvalid() {
		bc.addNode(h, parent, StatusInvalidAncestor)
		return nil, ruleError(ErrKnownInvalid, "block %s: parent %s is known to be invalid", hash, parent.hash)
	}
	if bc.lowWorkBlock(hash, h, parent) { // an orphan that waited
		return nil, ruleError(ErrLowWork, "block %s at height %d: its branch has less work than the tip's less %d blocks, and its header was not asked for", hash, h.Height, bc.p.LowWorkMargin)
	}
	if err := CheckHeaderContext(bc.p, h, &parent.header, parent.medianTimePast(bc.p.MedianTimeBlocks)); err != nil {
		return nil, err
	}
	// A block that extends the tip is written with its connect commit (one
	// store transaction, one fsync); any other block is stored now.
	extendsTip := parent == bc.main.tip()
	if !extendsTip {
		if err := bc.store.PutBlock(blk, StatusDataStored); err != nil {
			return nil, storeErr("store block", err)
		}
	}
	wasHeader := bc.index.lookup(hash) != nil
	node := bc.addNode(h, parent, StatusDataStored)
	node.unsaved = extendsTip
	events, failures, err := bc.activateBestChain(map[Hash]*Block{hash: blk}, node)
	if err != nil {
		if node.unsaved {
			// Never written (a store failure stopped its connect): take it
			// out of the index again, so that the block can come back.
			bc.forgetUnsaved(node, wasHeader)
		}
		return events, err
	}
	if node.status.KnownInvalid() {
		if f, ok := failures[node]; ok {
			return events, f
		}
		for a := node.parent; a != nil; a = a.parent {
			if f, ok := failures[a]; ok {
				return events, ruleError(kindOf(f), "block %s: ancestor %s failed: %v", hash, a.hash, f)
			}
		}
		return events, ruleError(ErrKnownInvalid, "block %s: an ancestor is invalid", hash)
	}
	return events, nil
}

// forgetUnsaved undoes addNode for a block that was to be written with its
// connect commit but was not (a store failure stopped it): a node that was
// header-only becomes header-only again; a new node leaves the index and
// its parent's children. Without this the block would stay "known" with no
// body in the store: HaveBlock true (never fetched again), a resubmission a
// duplicate, its children "not stored".
func (bc *BlockChain) forgetUnsaved(n *blockNode, wasHeader bool) {
	n.unsaved = false
	if wasHeader {
		if n.status&StatusDataStored != 0 {
			n.status &^= StatusDataStored | StatusValid
			if n.status == 0 {
				bc.headerOnly++
			}
		}
		return
	}
	if len(n.children) > 0 {
		return // cannot happen: children are added only after this returns
	}
	delete(bc.index.nodes, n.hash)
	if p := n.parent; p != nil {
		p.children = slices.DeleteFunc(p.children, func(c *blockNode) bool { return c == n })
	}
	if s := bc.snap; s != nil && s.node == n {
		s.node, s.path = nil, nil
	}
}

// bestCandidate returns the stored, not known-invalid block with the most
// work if it has more than the tip (equal work keeps the tip: first seen
// wins), else nil.
func (bc *BlockChain) bestCandidate() *blockNode {
	tip := bc.main.tip()
	var best *blockNode
	for _, n := range bc.index.nodes {
		if n.status&StatusDataStored == 0 || n.status.KnownInvalid() || n.workSum.Cmp(tip.workSum) <= 0 {
			continue
		}
		if best == nil {
			best = n
			continue
		}
		if c := n.workSum.Cmp(best.workSum); c > 0 || (c == 0 && n.seq < best.seq) {
			best = n
		}
	}
	return best
}

// activateBestChain reorganizes to the most-work valid branch, trying the
// next best when a branch fails. It returns the tip events, the validation
// failures by block, and a store error if one stopped it.
//
// Invariant: when it returns, no valid stored block has more work than the
// tip. So when a single new block hint arrives, it is the only possible
// candidate, and the index is scanned only after a failure (or with no
// hint, at startup).
func (bc *BlockChain) activateBestChain(have map[Hash]*Block, hint *blockNode) ([]TipEvent, map[*blockNode]error, error) {
	var events []TipEvent
	failures := make(map[*blockNode]error)
	scan := hint == nil || bc.rescan
	for {
		var best *blockNode
		if scan {
			best = bc.bestCandidate()
		} else if !hint.status.KnownInvalid() && hint.workSum.Cmp(bc.main.tip().workSum) > 0 {
			best = hint
		}
		if best == nil {
			if scan {
				bc.rescan = false
			}
			return events, failures, nil
		}
		ev, bad, err := bc.reorganize(best, have)
		if err != nil {
			if bad == nil || isStoreErr(err) {
				// A stored branch with more work may be left behind:
				// the next activation scans the whole index.
				bc.rescan = true
				return events, failures, err
			}
			failures[bad] = err
			scan = true
			continue
		}
		events = append(events, ev)
	}
}

type connectStep struct {
	node  *blockNode
	blk   *Block
	delta UtxoDelta
	undo  []byte
	state ChainState
	ckpt  []float32 // weights to checkpoint after the block, or nil
}

// reorganize makes target the tip. Every block to attach is validated
// against a scratch view rolled back to the fork point before anything is
// written; on a validation failure the failing block is returned (and
// marked invalid with its descendants) and nothing else changes.
func (bc *BlockChain) reorganize(target *blockNode, have map[Hash]*Block) (TipEvent, *blockNode, error) {
	tip := bc.main.tip()
	fork := findFork(tip, target)
	if fork == nil {
		return TipEvent{}, nil, ruleError(ErrStore, "block %s does not share the genesis block", target.hash)
	}
	var detach, attach []*blockNode
	for n := tip; n != fork; n = n.parent {
		detach = append(detach, n)
	}
	for n := target; n != fork; n = n.parent {
		attach = append(attach, n)
	}
	slices.Reverse(attach)

	view := NewUtxoView(bc.store)
	supply := bc.supply
	var disc []connectStep
	for _, d := range detach {
		blk, err := bc.fetchBlock(d.hash, have)
		if err != nil {
			return TipEvent{}, nil, err
		}
		raw, err := bc.store.FetchUndo(d.hash)
		if err != nil {
			return TipEvent{}, nil, storeErr("fetch undo", err)
		}
		undo, err := DecodeUndo(raw)
		if err != nil {
			return TipEvent{}, nil, storeErr("decode undo", err)
		}
		if err := disconnectTxs(view, blk, undo); err != nil {
			return TipEvent{}, nil, storeErr("disconnect", err)
		}
		delta := view.TakeDelta()
		if supply, err = applySupply(supply, &delta); err != nil {
			return TipEvent{}, nil, err
		}
		if len(disc) >= ReorgFullBlocks {
			blk = blk.withoutContributions()
		}
		disc = append(disc, connectStep{node: d, blk: blk, delta: delta,
			state: ChainState{Tip: d.parent.hash, Height: d.parent.height, Supply: supply}})
	}

	// w is the weights as of the block being attached; nil while not
	// known (below a pending snapshot, or after a disconnect until a block
	// needs them: they are then replayed, see replayParent). Extending the
	// tip, it starts as the tip's slice itself and is copied only before
	// the first block with contributions changes it (a block without them
	// leaves the weights alone): no copy of a large model per block.
	w, owned := bc.weights, false
	if len(detach) > 0 {
		w = nil
	}
	var conn []connectStep
	lastCkpt := -1
	parentRoot := fork.header.StateRoot
	for _, a := range attach {
		blk, err := bc.fetchBlock(a.hash, have)
		if err != nil {
			return TipEvent{}, nil, err
		}
		bad := a
		role := bc.roleOf(a)
		undo, _, err := connectTxs(bc.p, view, blk, bc.p.GenesisHash)
		if err == nil {
			switch role {
			case roleAssumed: // see ImportSnapshot
				err = checkContributions(bc.p, blk, parentRoot)
				w, owned = nil, false
			case roleSnapshot:
				err = checkContributions(bc.p, blk, parentRoot)
				w, owned = bc.snap.weights, false
			default:
				if w == nil {
					w, bad, err = bc.replayParent(a, have)
					owned = true
				}
				if err == nil {
					if len(blk.Contributions) > 0 && !owned {
						w, owned = slices.Clone(w), true
					}
					err = bc.applyModel(w, blk, parentRoot)
				}
			}
		}
		if err != nil {
			if isStoreErr(err) || bad == nil {
				return TipEvent{}, nil, err
			}
			bc.markInvalid(bad)
			return TipEvent{}, bad, err
		}
		parentRoot = a.header.StateRoot
		delta := view.TakeDelta()
		if supply, err = applySupply(supply, &delta); err != nil {
			return TipEvent{}, nil, err
		}
		step := connectStep{node: a, blk: blk, delta: delta, undo: EncodeUndo(undo),
			state: ChainState{Tip: a.hash, Height: a.height, Supply: supply}}
		if a.height%bc.interval == 0 && w != nil && role != roleSnapshot {
			// Only the newest checkpoint of the branch is kept (one copy
			// of the weights however deep the reorg; checkpoints are
			// derived data, and the checkpointer keeps only the newest).
			if lastCkpt >= 0 {
				conn[lastCkpt].ckpt = nil
			}
			lastCkpt = len(conn)
			step.ckpt = slices.Clone(w) // (the snapshot's checkpoint exists)
		}
		conn = append(conn, step)
		// Blocks older than the newest ReorgFullBlocks are held (for the
		// tip event) without their contributions, which were applied.
		if k := len(conn) - 1 - ReorgFullBlocks; k >= 0 && !conn[k].node.unsaved {
			conn[k].blk = conn[k].blk.withoutContributions()
		}
	}

	// Everything validated: write, one store transaction per block.
	ev := TipEvent{Hash: target.hash, Height: target.height, Header: target.header}
	for _, d := range disc {
		u := &StateUpdate{Block: d.node.hash, Connect: false, Status: d.node.status, State: d.state, Delta: d.delta}
		if err := bc.store.Commit(u); err != nil {
			bc.failed = storeErr("disconnect block", err)
			return TipEvent{}, nil, bc.failed
		}
		bc.main = bc.main[:d.node.height]
		bc.supply = d.state.Supply
		ev.Disconnected = append(ev.Disconnected, d.blk)
	}
	for _, c := range conn {
		st := c.node.status | StatusValid
		u := &StateUpdate{Block: c.node.hash, Connect: true, Status: st, State: c.state, Delta: c.delta, Undo: c.undo}
		if c.node.unsaved {
			u.NewBlock = c.blk
		}
		if err := bc.store.Commit(u); err != nil {
			bc.failed = storeErr("connect block", err)
			return TipEvent{}, nil, bc.failed
		}
		c.node.status, c.node.unsaved = st, false
		bc.main = append(bc.main, c.node)
		bc.supply = c.state.Supply
		ev.Connected = append(ev.Connected, c.blk)
	}
	bc.weights = w
	if s := bc.snap; s != nil && target.height >= s.header.Height {
		// Connected (the weights after it are ours now), or the main chain
		// passed its height on other blocks: no use for it any more.
		bc.clearSnapshot()
	}
	for _, c := range conn {
		if c.ckpt != nil {
			bc.ckpt.save(c.node.height, c.node.hash, c.ckpt) // derived data: a failure only costs replay time
		}
	}
	return ev, nil, nil
}

func applySupply(supply uint64, d *UtxoDelta) (uint64, error) {
	add, rem := d.SupplyChange()
	if rem > supply || supply-rem > MaxMoney || add > MaxMoney-(supply-rem) {
		return 0, ruleError(ErrStore, "supply accounting: %d - %d + %d out of range", supply, rem, add)
	}
	return supply - rem + add, nil
}

// markInvalid marks n as failed and its descendants as having an invalid
// ancestor, in memory and in the store (best effort: a restart would only
// validate them again).
func (bc *BlockChain) markInvalid(n *blockNode) {
	n.status |= StatusValidateFailed
	n.status &^= StatusValid
	if n.unsaved {
		// Never written: the block was to be stored with its connect
		// commit. Remember it as invalid in memory only.
		n.status &^= StatusDataStored
	} else if n.status&StatusDataStored != 0 {
		bc.store.SetStatus(n.hash, n.status)
	}
	for _, d := range n.descendants() {
		d.status |= StatusInvalidAncestor
		if d.status&StatusDataStored != 0 && !d.unsaved {
			bc.store.SetStatus(d.hash, d.status)
		}
	}
	if s := bc.snap; s != nil && s.node != nil && s.node.status.KnownInvalid() {
		bc.clearSnapshot() // weights of an invalid block
	}
}

func (bc *BlockChain) fetchBlock(h Hash, have map[Hash]*Block) (*Block, error) {
	if b, ok := have[h]; ok {
		return b, nil
	}
	b, err := bc.store.FetchBlock(h)
	if err != nil {
		return nil, storeErr("fetch block "+h.String(), err)
	}
	return b, nil
}

// weightsPlan is how to rebuild the weights after a block: a private copy
// of the weights after a base block, and the blocks above the base,
// newest first.
type weightsPlan struct {
	w    []float32
	path []*blockNode
}

// planWeights finds the base for the weights after n (a block with data)
// on n's branch: the tip's weights, a pending snapshot's, a checkpoint, or
// genesis. It needs bc.mu (read); the replay does not.
func (bc *BlockChain) planWeights(n *blockNode) (weightsPlan, error) {
	var path []*blockNode
	tip := bc.main.tip()
	for it := n; ; it = it.parent {
		if it == nil {
			return weightsPlan{}, ruleError(ErrStore, "block %s: no ancestor to replay weights from", n.hash)
		}
		if it == tip && bc.weights != nil {
			return weightsPlan{slices.Clone(bc.weights), path}, nil
		}
		if s := bc.snap; s != nil && s.node == it {
			return weightsPlan{slices.Clone(s.weights), path}, nil
		}
		if cw, ok := bc.ckpt.load(it.hash, it.header.StateRoot); ok {
			return weightsPlan{cw, path}, nil
		}
		if it.height == 0 {
			g, err := state.Genesis(bc.p.Training)
			if err != nil {
				return weightsPlan{}, ruleError(ErrBadParams, "genesis weights: %v", err)
			}
			if Hash(bc.p.Training.Root(g)) != it.header.StateRoot {
				return weightsPlan{}, ruleError(ErrBadGenesis, "genesis weights do not match the genesis state root")
			}
			return weightsPlan{g, path}, nil
		}
		path = append(path, it)
	}
}

// replay applies the plan's blocks (from have or the store) oldest first,
// checking every state root. On a consensus failure it also returns the
// block that failed. Index nodes' hashes, headers and parents never
// change, so it may run without bc.mu.
func (bc *BlockChain) replay(pl weightsPlan, have map[Hash]*Block) ([]float32, *blockNode, error) {
	w := pl.w
	for i := len(pl.path) - 1; i >= 0; i-- {
		b := pl.path[i]
		blk, err := bc.fetchBlock(b.hash, have)
		if err != nil {
			return nil, nil, err
		}
		if err := bc.applyModel(w, blk, b.parent.header.StateRoot); err != nil {
			return nil, b, err
		}
	}
	return w, nil, nil
}

// weightsAt returns a private copy of the weights after block n: from the
// tip weights, a pending snapshot, a checkpoint or genesis at or below n
// on n's branch, then replaying the contributions of the blocks above it.
func (bc *BlockChain) weightsAt(n *blockNode) ([]float32, error) {
	pl, err := bc.planWeights(n)
	if err != nil {
		return nil, err
	}
	w, _, err := bc.replay(pl, nil)
	return w, err
}

// replayParent rebuilds the weights after a's parent while a is being
// connected and they are not at hand (after a disconnect, or on a branch
// that leaves a pending snapshot's ancestry). If an ancestor fails its
// state root, the block to mark invalid is returned: that ancestor if it
// is not on the main chain, else a itself (an ancestor connected under a
// snapshot proved wrong; a, built on it, is invalid, and the main chain
// stays as it is). Failures that say nothing about the blocks (I/O, the
// genesis weights) return no block.
func (bc *BlockChain) replayParent(a *blockNode, have map[Hash]*Block) ([]float32, *blockNode, error) {
	pl, err := bc.planWeights(a.parent)
	if err != nil {
		return nil, nil, err
	}
	w, failed, err := bc.replay(pl, have)
	switch {
	case err == nil:
		return w, a, nil
	case failed == nil:
		return nil, nil, err
	case !bc.main.contains(failed):
		return nil, failed, err
	}
	return nil, a, ruleError(kindOf(err), "block %s: its ancestor %s, connected under a snapshot, fails replay: %v", a.hash, failed.hash, err)
}

// storeErr wraps a store failure as ErrStore (keeping ErrNotFound visible
// in the description).
func storeErr(what string, err error) error {
	var re RuleError
	if errors.As(err, &re) && re.Err == ErrStore {
		return err
	}
	return ruleError(ErrStore, "%s: %v", what, err)
}

func isStoreErr(err error) bool {
	return errors.Is(err, ErrStore) || errors.Is(err, ErrNotFound)
}

// Tip returns the main chain's tip.
func (bc *BlockChain) Tip() ChainTip {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	t := bc.main.tip()
	return ChainTip{
		Hash:       t.hash,
		Height:     t.height,
		Header:     t.header,
		Work:       new(big.Int).Set(t.workSum),
		Supply:     bc.supply,
		MedianTime: t.medianTimePast(bc.p.MedianTimeBlocks),
		NextBits:   NextRequiredBits(bc.p, t.height, t.header.Timestamp),
	}
}

// BlockByHash returns a stored block (main chain or not); ErrNotFound if
// the store does not hold it.
func (bc *BlockChain) BlockByHash(h Hash) (*Block, error) {
	return bc.store.FetchBlock(h)
}

// BlockSize returns the length of a stored block's encoding without
// reading the block (ErrNotFound if it is not stored).
func (bc *BlockChain) BlockSize(h Hash) (int, error) { return bc.store.BlockSize(h) }

// BlockBytes returns a stored block's encoding (Block.Bytes) without
// decoding it: what a node serves to peers.
func (bc *BlockChain) BlockBytes(h Hash) ([]byte, error) { return bc.store.FetchBlockBytes(h) }

// BlockByHeight returns the main-chain block at height (ErrNotFound above
// the tip).
func (bc *BlockChain) BlockByHeight(height uint64) (*Block, error) {
	bc.mu.RLock()
	n := bc.main.at(height)
	bc.mu.RUnlock()
	if n == nil {
		return nil, ruleError(ErrNotFound, "no main-chain block at height %d", height)
	}
	return bc.store.FetchBlock(n.hash)
}

// HashByHeight returns the hash of the main-chain block at height.
func (bc *BlockChain) HashByHeight(height uint64) (Hash, bool) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if n := bc.main.at(height); n != nil {
		return n.hash, true
	}
	return Hash{}, false
}

// HeaderByHash returns the header of a block in the index.
func (bc *BlockChain) HeaderByHash(h Hash) (Header, bool) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if n := bc.index.lookup(h); n != nil {
		return n.header, true
	}
	return Header{}, false
}

// StatusOf returns what the index knows about a block.
func (bc *BlockChain) StatusOf(h Hash) (BlockStatus, bool) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if n := bc.index.lookup(h); n != nil {
		return n.status, true
	}
	return 0, false
}

// IsMainChain reports whether the block is on the main chain.
func (bc *BlockChain) IsMainChain(h Hash) bool {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.main.contains(bc.index.lookup(h))
}

// HaveBlock reports whether the block is in the index with its body or in
// the orphan pool (a block known invalid counts: there is no need to fetch
// it again; a header-only entry does not: its body is still wanted).
func (bc *BlockChain) HaveBlock(h Hash) bool {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if n := bc.index.lookup(h); n != nil && (n.status.HaveData() || n.status.KnownInvalid()) {
		return true
	}
	return bc.orphans.has(h)
}

// OrphanRoot returns the oldest ancestor of an orphan that is in the
// orphan pool: its parent is the block to request.
func (bc *BlockChain) OrphanRoot(h Hash) Hash {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.orphans.root(h)
}

// OrphanCount returns the number of blocks in the orphan pool.
func (bc *BlockChain) OrphanCount() int {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.orphans.len()
}

// BlockLocator returns a locator for block h (the zero hash: the tip):
// hashes from h back to genesis, dense near h and exponentially sparse
// further back, for headers-first sync (LocateHeaders on the peer).
func (bc *BlockChain) BlockLocator(h Hash) ([]Hash, error) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	n := bc.main.tip()
	if !h.IsZero() {
		if n = bc.index.lookup(h); n == nil {
			return nil, ruleError(ErrNotFound, "locator: unknown block %s", h)
		}
	}
	return locator(n), nil
}

// LocateHeaders returns the main-chain headers after the first locator
// hash that is on the main chain (genesis if none is), up to and including
// stop (zero: no stop) and at most max of them.
func (bc *BlockChain) LocateHeaders(loc []Hash, stop Hash, max int) []Header {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	start := uint64(0)
	for _, h := range loc {
		if n := bc.index.lookup(h); bc.main.contains(n) {
			start = n.height
			break
		}
	}
	var out []Header
	for ht := start + 1; ht < uint64(len(bc.main)) && len(out) < max; ht++ {
		n := bc.main[ht]
		out = append(out, n.header)
		if n.hash == stop {
			break
		}
	}
	return out
}

// FetchUtxos implements UtxoFetcher on the UTXO set at the tip.
func (bc *BlockChain) FetchUtxos(ops []OutPoint) (map[OutPoint]UtxoEntry, error) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.store.FetchUtxos(ops)
}

// UtxosByAddress returns the unspent outputs paying addr at the tip and
// the tip height they were read at.
func (bc *BlockChain) UtxosByAddress(addr Address) ([]Utxo, uint64, error) {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	us, err := bc.store.UtxosByAddress(addr)
	return us, bc.main.tip().height, err
}

// ForEachUtxo calls fn for every output of the UTXO set at the tip, in key
// order, holding the chain's read lock (fn must not call ProcessBlock).
func (bc *BlockChain) ForEachUtxo(fn func(Utxo) error) error {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.store.ForEachUtxo(fn)
}

// Weights returns a copy of the model weights at the tip. While the tip
// is below a pending snapshot they are rebuilt by a full replay (nil if
// that fails): see WeightsAt.
func (bc *BlockChain) Weights() []float32 {
	bc.mu.RLock()
	if bc.weights != nil {
		defer bc.mu.RUnlock()
		return slices.Clone(bc.weights)
	}
	pl, err := bc.planWeights(bc.main.tip())
	bc.mu.RUnlock()
	if err != nil {
		return nil
	}
	w, _, err := bc.replay(pl, nil)
	if err != nil {
		return nil
	}
	return w
}

// WeightsAt returns the model weights after block h (any stored block not
// known invalid), replayed from the nearest base on its branch: the tip,
// a pending snapshot, a checkpoint or genesis, checking every state root
// on the way. Below a snapshot (imported with ImportSnapshot, connected or
// not) there is no checkpoint, so that is a replay from genesis. The
// replay runs without the chain's lock.
func (bc *BlockChain) WeightsAt(h Hash) ([]float32, error) {
	bc.mu.RLock()
	n := bc.index.lookup(h)
	if n == nil || n.status&StatusDataStored == 0 {
		bc.mu.RUnlock()
		return nil, ruleError(ErrNotFound, "weights: unknown block %s", h)
	}
	if n.status.KnownInvalid() {
		bc.mu.RUnlock()
		return nil, ruleError(ErrKnownInvalid, "weights: block %s is invalid", h)
	}
	pl, err := bc.planWeights(n)
	bc.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	w, _, err := bc.replay(pl, nil)
	return w, err
}

// HasCheckpoint reports whether a weight checkpoint of main-chain block h
// is held (a file or, without a checkpoint directory, memory), without
// reading it.
func (bc *BlockChain) HasCheckpoint(h Hash) bool {
	bc.mu.RLock()
	onMain := bc.main.contains(bc.index.lookup(h))
	bc.mu.RUnlock()
	return onMain && bc.ckpt.has(h)
}

// CheckpointWeights returns the weights after main-chain block h from its
// checkpoint, verified against h's state root; it never replays blocks
// (ErrNotFound when there is no usable checkpoint). For serving snapshots
// to peers, whose requests must not cost replays.
func (bc *BlockChain) CheckpointWeights(h Hash) ([]float32, error) {
	bc.mu.RLock()
	n := bc.index.lookup(h)
	onMain := bc.main.contains(n)
	bc.mu.RUnlock()
	if !onMain {
		return nil, ruleError(ErrNotFound, "checkpoint: block %s is not on the main chain", h)
	}
	w, ok := bc.ckpt.load(h, n.header.StateRoot)
	if !ok {
		return nil, ruleError(ErrNotFound, "no checkpoint of block %s", h)
	}
	return w, nil
}

// LatestCheckpoint returns the newest main-chain block with a weight
// checkpoint whose height is a positive multiple of every (1: any height).
func (bc *BlockChain) LatestCheckpoint(every uint64) (Hash, uint64, bool) {
	if every == 0 {
		every = 1
	}
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	var best *blockNode
	for _, h := range bc.ckpt.hashes() {
		n := bc.index.lookup(h)
		if n == nil || n.height == 0 || n.height%every != 0 || !bc.main.contains(n) {
			continue
		}
		if best == nil || n.height > best.height {
			best = n
		}
	}
	if best == nil {
		return Hash{}, 0, false
	}
	return best.hash, best.height, true
}

// CheckBlockTemplate runs every check ProcessBlock would run on blk as the
// next block on the tip, except proof of work, without changing anything:
// what a miner calls before solving.
func (bc *BlockChain) CheckBlockTemplate(blk *Block, now int64) error {
	if err := CheckBlockSanity(bc.p, blk, now, BFNoPoWCheck); err != nil {
		return err
	}
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	tip := bc.main.tip()
	if err := CheckHeaderContext(bc.p, &blk.Header, &tip.header, tip.medianTimePast(bc.p.MedianTimeBlocks)); err != nil {
		return err
	}
	view := NewUtxoView(bc.store)
	if _, _, err := connectTxs(bc.p, view, blk, bc.p.GenesisHash); err != nil {
		return err
	}
	w := bc.weights
	if w == nil { // below a pending snapshot
		var err error
		if w, err = bc.weightsAt(tip); err != nil {
			return err
		}
	} else if len(blk.Contributions) > 0 {
		w = slices.Clone(w)
	}
	// The CPU reference, never the backend: a backend that computes wrong
	// numbers would agree with a template it built itself.
	return applyModel(bc.p, w, blk, tip.header.StateRoot)
}

// applyModel applies blk to w with the chain's backend, the CPU reference
// deciding whenever the backend fails or disagrees (see applyModelWith).
func (bc *BlockChain) applyModel(w []float32, blk *Block, parentRoot Hash) error {
	return applyModelWith(bc.p, bc.backend, &bc.fallbacks, w, blk, parentRoot)
}

// BackendFallbacks returns how many blocks the CPU reference had to apply
// again because the backend (Config.Backend) failed or produced weights
// whose root differs from the header's.
func (bc *BlockChain) BackendFallbacks() uint64 { return bc.fallbacks.Load() }
