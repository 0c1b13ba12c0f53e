package p2p

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// syncer is the headers-first sync loop. One goroutine runs it; it wakes
// every SyncInterval, or when a peer shows more work, picks the peer that
// claims the most work (among those not backing off), and catches up from
// it:
//
//  1. (snap sync, once per advertised snapshot) if that peer serves a
//     weights snapshot at least SnapMinDepth blocks ahead, walk its headers
//     to the snapshot block (indexing them in the chain, see step 2),
//     fetch the manifest (checked against the header's state root) and the
//     chunks (each checked against its leaf) from every peer that offers
//     the same snapshot, and import it (a refusal that proves the peer's
//     chain invalid charges it);
//  2. ask the peer for up to MaxHeadersPerMsg headers after our locator,
//     check that they link up and carry valid proof of work, and, if the
//     chain is a HeaderProcessor, index them there (difficulty and median
//     time past against their parents; a branch far below our tip only
//     into the chain's bounded low-work pool) before any body is fetched;
//  3. once the indexed header chain has more work than our tip (and at
//     least MinimumChainWork), download its missing bodies in batches of
//     BodyBatch from all peers with a status (at most BodyWindow batches
//     and MaxSyncBytes in flight, retrying a failed batch on the sync
//     peer), check each against its header, and hand them to the chain in
//     order; headers that do not (yet) beat our tip cost no body download;
//  4. repeat from the last header received until the peer has no more.
//
// The node counts as syncing (and ignores transactions, contributions and
// blocks whose parent it lacks) only while it downloads the bodies of a
// verified header chain with more work than its tip that ends more than
// CatchUpBlocks above it — never on a peer's word.
//
// A sync peer that fails — a timeout, a reset, a body it listed but does
// not serve — is charged PenaltySyncStall; one whose headers are invalid,
// or whose chain contains an invalid block, PenaltyInvalidBlock; one that
// claimed more work than its headers and blocks gave us,
// PenaltyLiedAboutWork. In every case its status is cleared (it is not
// picked again until it sends a new one), it backs off (RequestTimeout,
// doubling per failure up to 10 minutes) and the loop moves on to the next
// peer at once.
type syncer struct {
	n       *Node
	wake    chan struct{}
	syncing atomic.Bool
	// Only the sync goroutine touches the fields below.
	snapTried map[chain.Hash]bool // snapshots attempted (one attempt each)
	backoff   map[peer.ID]syncBackoff
	// peakBytes is the most body bytes a download held (for tests).
	peakBytes atomic.Int64
}

type syncBackoff struct {
	until time.Time
	fails int
}

// Sync failures that charge the peer when the loop gives up on it.
var (
	errLiedAboutWork = errorf(ErrBadPeerData, "the peer's headers and blocks do not show the work it claimed")
	errSyncNotYet    = errorf(ErrNotFound, "the peer's next header is not valid yet (timestamp ahead of our clock)")
)

// maxPendingHeaders bounds the headers the sync loop keeps (as hashes)
// while a peer's header chain has not yet shown more work than our tip.
const maxPendingHeaders = 1 << 16

func newSyncer(n *Node) *syncer {
	return &syncer{n: n, wake: make(chan struct{}, 1), snapTried: map[chain.Hash]bool{}, backoff: map[peer.ID]syncBackoff{}}
}

func (s *syncer) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *syncer) run() {
	t := time.NewTicker(s.n.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.n.ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		s.step()
	}
}

// step syncs from the peers that claim more work than our tip, best
// first, until none is left that is not backing off.
func (s *syncer) step() {
	n := s.n
	defer s.syncing.Store(false)
	for n.ctx.Err() == nil {
		ours := n.deps.Chain.BestTip()
		peers := n.peers.withStatus()
		best, ok := s.pick(peers, ours)
		if !ok {
			return
		}
		err := s.syncFrom(best.id, best.status, peers)
		if n.ctx.Err() != nil {
			return
		}
		if err == nil && n.deps.Chain.BestTip().Work.Cmp(best.status.Work()) < 0 {
			err = errLiedAboutWork
		}
		s.syncing.Store(false)
		if err != nil {
			s.fail(best.id, best.status, err)
			continue
		}
		delete(s.backoff, best.id)
	}
}

// pick returns the peer claiming the most work above ours that is not
// backing off.
func (s *syncer) pick(peers []peerStatus, ours Tip) (peerStatus, bool) {
	now := s.n.cfg.now()
	if len(s.backoff) > 1024 {
		for id, b := range s.backoff {
			if now.After(b.until.Add(10 * time.Minute)) {
				delete(s.backoff, id)
			}
		}
	}
	for _, ps := range peers {
		if ps.status.Work().Cmp(ours.Work) <= 0 {
			return peerStatus{}, false // sorted by work: no one further down has more
		}
		if b, ok := s.backoff[ps.id]; ok && now.Before(b.until) {
			continue
		}
		return ps, true
	}
	return peerStatus{}, false
}

// fail charges p for a failed sync round (unless the failure was charged
// where it was found), clears its status and makes it back off.
func (s *syncer) fail(p peer.ID, st *wire.Status, err error) {
	n := s.n
	b := s.backoff[p]
	b.fails++
	d := n.cfg.RequestTimeout << min(b.fails-1, 10)
	b.until = n.cfg.now().Add(min(d, 10*time.Minute))
	s.backoff[p] = b
	if n.peers.status(p) == st {
		n.peers.setStatus(p, nil)
	}
	switch {
	case errors.Is(err, errSyncNotYet), errors.Is(err, wire.ErrBusy):
		// Not the peer's fault: it is ahead of our clock, or busy.
	case errors.Is(err, errLiedAboutWork), errors.Is(err, chain.ErrLowWork):
		n.misbehave(p, PenaltyLiedAboutWork, "advertised more work than its headers and blocks show", err)
	case errors.Is(err, ErrBadPeerData), errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrTooLarge),
		errors.Is(err, wire.ErrCompression), errors.Is(err, wire.ErrMismatch):
		// Charged where it was found.
	default:
		n.misbehave(p, PenaltySyncStall, "sync failed (timeout, reset or missing data)", err)
	}
	n.log.Debug().Err(err).Str("peer", p.String()).Int("fails", b.fails).Msg("sync round failed; trying the next peer")
}

// syncFrom catches up from p: headers first, then the bodies of a header
// chain that has more work than our tip.
func (s *syncer) syncFrom(p peer.ID, st *wire.Status, peers []peerStatus) error {
	n := s.n
	c := n.deps.Chain
	if n.cfg.SnapSync && n.deps.SnapshotSink != nil && !st.SnapHash.IsZero() && !s.snapTried[st.SnapHash] &&
		st.SnapHeight > c.BestTip().Height+n.cfg.SnapMinDepth {
		if len(s.snapTried) >= 64 {
			clear(s.snapTried)
		}
		s.snapTried[st.SnapHash] = true
		if err := s.snapSync(p, st, peers); err != nil {
			n.log.Warn().Err(err).Str("peer", p.String()).Msg("snap sync failed; replaying from our tip")
		}
	}
	ours := c.BestTip()
	target := new(big.Int).Add(ours.Work, big.NewInt(1))
	if mw := n.cfg.MinimumChainWork; mw != nil && mw.Cmp(target) > 0 {
		target.Set(mw)
	}
	var (
		pending []chain.Hash // indexed headers whose bodies wait for the chain to show the work
		last    chain.Hash
	)
	for n.ctx.Err() == nil {
		loc := c.Locator()
		if !last.IsZero() {
			loc = append([]chain.Hash{last}, loc...)
		}
		hdrs, err := n.fetchHeaders(n.ctx, p, loc, chain.Hash{}, wire.MaxHeadersPerMsg)
		if err != nil {
			return err
		}
		if len(hdrs) == 0 {
			break
		}
		full := len(hdrs) == wire.MaxHeadersPerMsg
		hdrs, err = s.checkHeaders(p, hdrs, last)
		if err != nil {
			return err
		}
		full = full && len(hdrs) == wire.MaxHeadersPerMsg
		hdrs, work, err := s.indexHeaders(p, hdrs)
		if err != nil {
			return err
		}
		if len(hdrs) == 0 {
			break
		}
		full = full && len(hdrs) == wire.MaxHeadersPerMsg
		last = hdrs[len(hdrs)-1].BlockHash()
		for i := range hdrs {
			if h := hdrs[i].BlockHash(); !c.HaveBlock(h) {
				pending = append(pending, h)
			}
		}
		if work == nil || work.Cmp(target) >= 0 {
			// The header chain beats our tip (or the chain keeps no
			// header index, and we take the peer's word): the bodies.
			if len(pending) > 0 {
				if hdrs[len(hdrs)-1].Height > ours.Height+n.cfg.CatchUpBlocks {
					s.syncing.Store(true)
				}
				if err := s.download(p, pending, peers); err != nil {
					return err
				}
				pending = pending[:0]
			}
		} else if len(pending) > maxPendingHeaders {
			return errLiedAboutWork
		}
		if !full {
			break
		}
	}
	return n.ctx.Err()
}

// indexHeaders hands checked headers to the chain when it indexes headers
// ahead of bodies (HeaderProcessor): it checks difficulty and timestamps
// against the parents. It returns the prefix that is indexed and the
// cumulative work through its last header (nil without a
// HeaderProcessor). A header chain the chain rejects charges p; one whose
// low-work headers the chain will not hold is returned as
// chain.ErrLowWork.
func (s *syncer) indexHeaders(p peer.ID, hdrs []chain.Header) ([]chain.Header, *big.Int, error) {
	hp, ok := s.n.deps.Chain.(HeaderProcessor)
	if !ok {
		return hdrs, nil, nil
	}
	err := hp.ProcessHeaders(hdrs)
	if err != nil && BlockVerdict(err) == pubsub.ValidationReject {
		s.n.misbehave(p, PenaltyInvalidBlock, "invalid headers", err)
		return nil, nil, wrapf(ErrBadPeerData, err, "headers from %s", p)
	}
	if errors.Is(err, chain.ErrLowWork) {
		return nil, nil, err
	}
	// ProcessHeaders stops at the first header it cannot take; the ones
	// before it are indexed.
	for i := len(hdrs) - 1; i >= 0; i-- {
		if w, ok := hp.HeaderWork(hdrs[i].BlockHash()); ok {
			return hdrs[:i+1], w, nil
		}
	}
	if err != nil {
		s.n.log.Debug().Err(err).Str("peer", p.String()).Msg("headers not indexed")
	}
	return nil, nil, nil
}

// checkHeaders checks that hdrs extend a block we have (or prev, the last
// header of the previous batch), link up, and pass the context-free
// header checks. A header whose timestamp is too far ahead ends the list
// there (it may become valid later); anything else invalid charges p.
func (s *syncer) checkHeaders(p peer.ID, hdrs []chain.Header, prev chain.Hash) ([]chain.Header, error) {
	n := s.n
	first := hdrs[0].PrevBlock
	if first != prev && !n.deps.Chain.HaveBlock(first) {
		n.misbehave(p, PenaltyBadResponse, "headers do not connect to our locator", nil)
		return nil, errorf(ErrBadPeerData, "headers from %s start at unknown parent %s", p, first)
	}
	for i := range hdrs {
		h := &hdrs[i]
		if i > 0 && (h.PrevBlock != hdrs[i-1].BlockHash() || h.Height != hdrs[i-1].Height+1) {
			n.misbehave(p, PenaltyInvalidBlock, "headers do not link up", nil)
			return nil, errorf(ErrBadPeerData, "header %d from %s does not extend header %d", i, p, i-1)
		}
		if err := n.deps.Chain.CheckHeader(h); err != nil {
			if BlockVerdict(err) == pubsub.ValidationReject {
				n.misbehave(p, PenaltyInvalidBlock, "invalid header", err)
				return nil, wrapf(ErrBadPeerData, err, "header %d (%s) from %s", i, h.BlockHash(), p)
			}
			if i == 0 {
				return nil, errSyncNotYet
			}
			return hdrs[:i], nil
		}
	}
	return hdrs, nil
}

type batchResult struct {
	blocks []*chain.Block
	sizes  []int // bytes received per block (held in the byte budget until processed)
	err    error
}

// perPeerRequests is how many body requests the sync loop keeps in flight
// to one peer: below the default MaxInboundReqs (8) that a responder
// admits, leaving room for status and headers requests.
const perPeerRequests = 4

// errNoRoom ends a body request whose next body does not fit the byte
// budget; the rest of the batch is asked for again once there is room.
var errNoRoom = errorf(ErrQueueFull, "sync byte budget full")

// byteBudget bounds the bytes of bodies received and not yet processed
// (Config.MaxSyncBytes). The batch being processed (head) may always take
// bytes — it is what frees them — so the bytes held never exceed
// MaxSyncBytes plus that one batch (at most BodyBatch × MaxBlockSize).
type byteBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	max  int64
	used int64
	peak int64
	head int
	done bool
}

func newByteBudget(max int64) *byteBudget {
	b := &byteBudget{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// tryTake takes n bytes for batch if they fit (or batch is the head).
func (b *byteBudget) tryTake(batch, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if batch != b.head && b.used+int64(n) > b.max {
		return false
	}
	b.used += int64(n)
	b.peak = max(b.peak, b.used)
	return true
}

// wait blocks until n bytes would fit for batch, or the budget is closed.
func (b *byteBudget) wait(batch, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.done && batch != b.head && b.used+int64(n) > b.max {
		b.cond.Wait()
	}
	if b.done {
		return errorf(ErrClosed, "download ended")
	}
	return nil
}

func (b *byteBudget) give(n int) {
	b.mu.Lock()
	b.used -= int64(n)
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *byteBudget) setHead(batch int) {
	b.mu.Lock()
	b.head = batch
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *byteBudget) close() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// download fetches the bodies of need (in chain order) and processes
// them in order. Workers are pinned to sources (at most perPeerRequests
// per peer); at most BodyWindow batches are fetched ahead of the one
// being processed, and the bodies received and not yet processed stay
// within MaxSyncBytes (plus the batch being processed), which bounds
// memory.
func (s *syncer) download(best peer.ID, need []chain.Hash, peers []peerStatus) error {
	n := s.n
	ctx, cancel := context.WithCancel(n.ctx)
	budget := newByteBudget(n.cfg.MaxSyncBytes)
	var wg sync.WaitGroup
	defer func() {
		cancel() // first, so that every goroutine below can return
		budget.close()
		wg.Wait()
		budget.mu.Lock()
		peak := budget.peak
		budget.mu.Unlock()
		for {
			old := s.peakBytes.Load()
			if peak <= old || s.peakBytes.CompareAndSwap(old, peak) {
				break
			}
		}
	}()

	sources := []peer.ID{best}
	for _, ps := range peers {
		if ps.id != best {
			sources = append(sources, ps.id)
		}
	}
	var batches [][]chain.Hash
	for i := 0; i < len(need); i += n.cfg.BodyBatch {
		batches = append(batches, need[i:min(i+n.cfg.BodyBatch, len(need))])
	}
	results := make([]chan batchResult, len(batches))
	for i := range results {
		results[i] = make(chan batchResult, 1)
	}
	window := make(chan struct{}, n.cfg.BodyWindow)
	jobs := make(chan int)
	wg.Add(1)
	go func() { // dispatcher: hands out batches, at most BodyWindow ahead
		defer wg.Done()
		defer close(jobs)
		for i := range batches {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	workers := min(len(batches), perPeerRequests*len(sources), n.cfg.BodyWindow)
	for w := range workers {
		src := sources[w%len(sources)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				blocks, sizes, err := s.fetchBatch(ctx, src, best, i, batches[i], budget)
				results[i] <- batchResult{blocks, sizes, err}
			}
		}()
	}

	for i := range batches {
		budget.setHead(i)
		var r batchResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return errorf(ErrClosed, "node closed")
		}
		if r.err != nil {
			return r.err
		}
		for j, b := range r.blocks {
			err := n.deps.Chain.ProcessBlock(b)
			r.blocks[j] = nil
			budget.give(r.sizes[j])
			if err == nil {
				n.stats.blocksSynced.Add(1)
				continue
			}
			if k, _ := chainKind(err); k == chain.ErrDuplicateBlock {
				continue
			}
			if BlockVerdict(err) == pubsub.ValidationReject {
				n.misbehave(best, PenaltyInvalidBlock, "served a chain with an invalid block", err)
				return wrapf(ErrBadPeerData, err, "block %s from %s's chain", b.Hash(), best)
			}
			return err
		}
		<-window
	}
	return nil
}

// fetchBatch fetches batch idx from src, then whatever src lacked from
// best, taking each body's size from budget before reading it: when a
// body does not fit, the request ends there and the rest is asked for
// again once there is room.
func (s *syncer) fetchBatch(ctx context.Context, src, best peer.ID, idx int, hashes []chain.Hash, budget *byteBudget) ([]*chain.Block, []int, error) {
	out := make([]*chain.Block, len(hashes))
	sizes := make([]int, len(hashes))
	// from fetches the entries at pos from p into out; it returns the
	// positions p did not have.
	from := func(p peer.ID, pos []int) ([]int, error) {
		var missing []int
		need := 0 // the size of a body that did not fit
		var busyFor time.Duration
		for len(pos) > 0 {
			if err := budget.wait(idx, need); err != nil {
				return nil, err
			}
			hs := make([]chain.Hash, len(pos))
			for k, i := range pos {
				hs[k] = hashes[i]
			}
			taken := 0
			got, gotSizes, err := s.n.fetchBlocks(ctx, p, hs, func(size int) error {
				if !budget.tryTake(idx, size) {
					need = size
					return errNoRoom
				}
				taken += size
				return nil
			})
			busy := errors.Is(err, wire.ErrBusy)
			if err != nil && !busy && !errors.Is(err, errNoRoom) {
				budget.give(taken)
				return nil, err
			}
			for k, b := range got {
				if b == nil {
					missing = append(missing, pos[k])
					continue
				}
				out[pos[k]], sizes[pos[k]] = b, gotSizes[k]
			}
			pos = pos[len(got):]
			if busy && len(pos) > 0 {
				// The peer's serving budget is spent: ask again shortly
				// (not its fault), giving up after RequestTimeout.
				d := min(100*time.Millisecond<<min(busyFor/(100*time.Millisecond), 4), time.Second)
				if busyFor += d; busyFor > s.n.cfg.RequestTimeout {
					return nil, err
				}
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		return missing, nil
	}
	all := make([]int, len(hashes))
	for i := range all {
		all[i] = i
	}
	missing, err := from(src, all)
	if err != nil {
		if src == best {
			return nil, nil, err
		}
		missing = nil
		for i, b := range out {
			if b == nil {
				missing = append(missing, i)
			}
		}
	}
	if len(missing) == 0 {
		return out, sizes, nil
	}
	if src == best {
		return nil, nil, errorf(ErrNotFound, "peer %s lacks %d of the blocks its headers list", best, len(missing))
	}
	still, err := from(best, missing)
	if err != nil {
		return nil, nil, err
	}
	if len(still) > 0 {
		return nil, nil, errorf(ErrNotFound, "peer %s lacks block %s its headers list", best, hashes[still[0]])
	}
	return out, sizes, nil
}

// snapSync fetches and imports the weights snapshot st advertises.
func (s *syncer) snapSync(p peer.ID, st *wire.Status, peers []peerStatus) error {
	n := s.n
	c := n.deps.Chain
	var snap *chain.Header
	var last chain.Hash
	for rounds := uint64(0); snap == nil; rounds++ {
		if rounds > st.SnapHeight/wire.MaxHeadersPerMsg+2 {
			return errorf(ErrSnapshot, "peer %s did not lead its headers to snapshot %s", p, st.SnapHash)
		}
		loc := c.Locator()
		if !last.IsZero() {
			loc = append([]chain.Hash{last}, loc...)
		}
		hdrs, err := n.fetchHeaders(n.ctx, p, loc, st.SnapHash, wire.MaxHeadersPerMsg)
		if err != nil {
			return wrapf(ErrSnapshot, err, "headers to snapshot")
		}
		if len(hdrs) == 0 {
			return errorf(ErrSnapshot, "peer %s has no headers towards snapshot %s", p, st.SnapHash)
		}
		if hdrs, err = s.checkHeaders(p, hdrs, last); err != nil {
			return wrapf(ErrSnapshot, err, "headers to snapshot")
		}
		if hdrs, _, err = s.indexHeaders(p, hdrs); err != nil {
			return wrapf(ErrSnapshot, err, "headers to snapshot")
		}
		if len(hdrs) == 0 {
			return errorf(ErrSnapshot, "headers towards snapshot %s not indexed", st.SnapHash)
		}
		for i := range hdrs {
			if hdrs[i].BlockHash() == st.SnapHash {
				h := hdrs[i]
				snap = &h
				break
			}
		}
		last = hdrs[len(hdrs)-1].BlockHash()
	}
	m, err := n.fetchManifest(n.ctx, p, snap)
	if err != nil {
		return wrapf(ErrSnapshot, err, "manifest of %s", st.SnapHash)
	}
	if m.TotalSize > n.cfg.MaxSnapshotSize {
		return errorf(ErrSnapshot, "snapshot %s of %d bytes exceeds the limit %d", st.SnapHash, m.TotalSize, n.cfg.MaxSnapshotSize)
	}
	sources := []peer.ID{p}
	for _, ps := range peers {
		if ps.id != p && ps.status.SnapHash == st.SnapHash {
			sources = append(sources, ps.id)
		}
	}
	weights := make([]byte, m.TotalSize)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		next    atomic.Int64
	)
	workers := min(len(m.Leaves), perPeerRequests*len(sources), 16)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(m.Leaves) || n.ctx.Err() != nil {
					return
				}
				var chunk []byte
				var err error
				for try := range len(sources) + 1 {
					src := sources[(w+try)%len(sources)]
					if try == len(sources) {
						src = p
					}
					if chunk, err = n.fetchChunk(n.ctx, src, m, i); err == nil {
						break
					}
				}
				if err != nil {
					mu.Lock()
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					return
				}
				copy(weights[i*int(m.ChunkSize):], chunk)
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return wrapf(ErrSnapshot, firstEr, "chunks of %s", st.SnapHash)
	}
	if err := n.deps.SnapshotSink.ImportSnapshot(snap, weights); err != nil {
		if BlockVerdict(err) == pubsub.ValidationReject {
			// The weights match the header's state root, so the header
			// chain that commits to them is what is invalid.
			n.misbehave(p, PenaltyInvalidBlock, "snapshot refused by the chain", err)
		}
		return wrapf(ErrSnapshot, err, "import snapshot %s", st.SnapHash)
	}
	n.stats.snapImports.Add(1)
	n.log.Info().Uint64("height", snap.Height).Str("block", st.SnapHash.String()).Int("bytes", len(weights)).Msg("imported weights snapshot")
	return nil
}
