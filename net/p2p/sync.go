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
	case errors.Is(err, errSyncNotYet):
		// Not the peer's fault: it is ahead of our clock.
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
	err    error
}

// perPeerRequests is how many body requests the sync loop keeps in flight
// to one peer: below the default MaxInboundReqs (8) that a responder
// admits, leaving room for status and headers requests.
const perPeerRequests = 4

// download fetches the bodies of need (in chain order) and processes
// them in order. Workers are pinned to sources (at most perPeerRequests
// per peer); at most BodyWindow batches are fetched ahead of the one
// being processed, which bounds memory.
func (s *syncer) download(best peer.ID, need []chain.Hash, peers []peerStatus) error {
	n := s.n
	ctx, cancel := context.WithCancel(n.ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // first, so that every goroutine below can return
		wg.Wait()
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
				blocks, err := s.fetchBatch(ctx, src, best, batches[i])
				results[i] <- batchResult{blocks, err}
			}
		}()
	}

	for i := range batches {
		var r batchResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return errorf(ErrClosed, "node closed")
		}
		if r.err != nil {
			return r.err
		}
		for _, b := range r.blocks {
			err := n.deps.Chain.ProcessBlock(b)
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

// fetchBatch fetches a batch from src, then whatever src lacked from best.
func (s *syncer) fetchBatch(ctx context.Context, src, best peer.ID, hashes []chain.Hash) ([]*chain.Block, error) {
	n := s.n
	out, err := n.fetchBlocks(ctx, src, hashes)
	if err != nil {
		if src == best {
			return nil, err
		}
		out = make([]*chain.Block, len(hashes))
	}
	var missing []int
	for i, b := range out {
		if b == nil {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if src == best {
		return nil, errorf(ErrNotFound, "peer %s lacks %d of the blocks its headers list", best, len(missing))
	}
	retry := make([]chain.Hash, len(missing))
	for j, i := range missing {
		retry[j] = hashes[i]
	}
	got, err := n.fetchBlocks(ctx, best, retry)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		if got[j] == nil {
			return nil, errorf(ErrNotFound, "peer %s lacks block %s its headers list", best, retry[j])
		}
		out[i] = got[j]
	}
	return out, nil
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
