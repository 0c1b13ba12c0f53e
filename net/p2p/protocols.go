package p2p

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// Request protocols. Each request is one stream: the requester writes one
// framed message and closes its write side; the responder writes framed
// messages or blobs (wire.WriteMsg, wire.WriteBlob) and closes. Every
// stream has a deadline of RequestTimeout; responders admit at most
// MaxInboundReqs concurrent requests per peer at RequestRate per second
// and serve at most ServeByteRate bytes per second per peer (BlobBusy
// beyond), and a malformed request costs the requester PenaltyMalformed.
//
//	status        Status → Status (both sides learn the other's tip)
//	headers       HeadersRequest → headers
//	blocks        hash list (≤ MaxBlocksPerRequest) → one blob per hash
//	contribution  hash list of one → blob
//	snap-manifest hash list of one (block) → blob holding a SnapManifest
//	snap-chunk    SnapChunkRequest → blob

func (n *Node) registerProtocols() {
	n.host.SetStreamHandler(n.proto.status, n.serve("status", n.serveStatus))
	n.host.SetStreamHandler(n.proto.headers, n.serve("headers", n.serveHeaders))
	n.host.SetStreamHandler(n.proto.blocks, n.serve("blocks", n.serveBlocks))
	n.host.SetStreamHandler(n.proto.blockTxs, n.serve("block-txs", n.serveBlockTxs))
	n.host.SetStreamHandler(n.proto.contribution, n.serve("contribution", n.serveContribution))
	n.host.SetStreamHandler(n.proto.snapManifest, n.serve("snap-manifest", n.serveSnapManifest))
	n.host.SetStreamHandler(n.proto.snapChunk, n.serve("snap-chunk", n.serveSnapChunk))
}

// serve wraps a handler with the per-peer admission checks, a deadline
// and the penalty for malformed requests. A panic in a handler (a bug)
// resets the stream instead of killing the node.
func (n *Node) serve(name string, fn func(p peer.ID, s network.Stream) error) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		if n.peers.isBanned(p) {
			s.Reset()
			return
		}
		if !n.peers.acquireRequest(p) {
			n.misbehave(p, PenaltyRateLimit, name+": request rate", nil)
			s.Reset()
			return
		}
		defer n.peers.releaseRequest(p)
		defer func() {
			if r := recover(); r != nil {
				n.log.Error().Interface("panic", r).Str("protocol", name).Str("peer", p.String()).Msg("handler panic")
				s.Reset()
			}
		}()
		s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
		if err := fn(p, s); err != nil {
			if k := wire.KindOf(err); k == wire.ErrMalformed || k == wire.ErrTooLarge || k == wire.ErrCompression {
				n.misbehave(p, PenaltyMalformed, name+": malformed request", err)
			}
			s.Reset()
			return
		}
		s.Close()
	}
}

func (n *Node) serveStatus(p peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 256)
	if err != nil {
		return err
	}
	theirs, err := wire.DecodeStatus(raw)
	if err != nil {
		return err
	}
	if err := n.codec.WriteMsg(s, n.ourStatus().Bytes()); err != nil {
		return err
	}
	n.acceptStatus(p, theirs)
	return nil
}

func (n *Node) serveHeaders(_ peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 4096)
	if err != nil {
		return err
	}
	q, err := wire.DecodeHeadersRequest(raw)
	if err != nil {
		return err
	}
	hs := n.deps.Chain.HeadersAfter(q.Locator, q.Stop, int(q.Max))
	if len(hs) > int(q.Max) {
		hs = hs[:q.Max]
	}
	return n.codec.WriteMsg(s, wire.EncodeHeaders(hs))
}

func (n *Node) serveBlocks(p peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 4096)
	if err != nil {
		return err
	}
	hashes, err := wire.DecodeHashes(raw, wire.MaxBlocksPerRequest)
	if err != nil {
		return err
	}
	// One block in memory at a time, as stored (no decode, no
	// re-encode), and only after the peer's byte budget took its size.
	c := n.deps.Chain
	for _, h := range hashes {
		status := byte(wire.BlobFound)
		var data []byte
		size, err := c.BlockSize(h)
		switch {
		case err != nil:
			status = wire.BlobNotFound
		case !n.peers.allowBytes(p, size):
			status = wire.BlobBusy
		default:
			if data, err = c.BlockBytes(h); err != nil {
				status = wire.BlobNotFound
			}
		}
		if status != wire.BlobFound {
			err = n.codec.WriteBlobStatus(s, status)
		} else {
			err = n.codec.WriteBlob(s, data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// serveBlockTxs answers a BlockTxsRequest: the block's transactions at
// the requested positions, one blob each, or one NotFound status (an
// unknown block, or an index beyond its transactions) or Busy (the peer's
// byte budget, charged with the whole block's size: the block is read and
// decoded to answer).
func (n *Node) serveBlockTxs(p peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 1+chain.HashSize+4+4*wire.MaxCompactTxIDs)
	if err != nil {
		return err
	}
	q, err := wire.DecodeBlockTxsRequest(raw)
	if err != nil {
		return err
	}
	c := n.deps.Chain
	size, err := c.BlockSize(q.Block)
	if err != nil {
		return n.codec.WriteBlobStatus(s, wire.BlobNotFound)
	}
	if !n.peers.allowBytes(p, size) {
		return n.codec.WriteBlobStatus(s, wire.BlobBusy)
	}
	blk, err := c.BlockByHash(q.Block)
	if err != nil || int(q.Indexes[len(q.Indexes)-1])+1 >= len(blk.Txs) {
		return n.codec.WriteBlobStatus(s, wire.BlobNotFound)
	}
	for _, i := range q.Indexes {
		if err := n.codec.WriteBlob(s, blk.Txs[i+1].Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) serveContribution(p peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 64)
	if err != nil {
		return err
	}
	hs, err := wire.DecodeHashes(raw, 1)
	if err != nil {
		return err
	}
	var c []byte
	ok := false
	if n.deps.Contributions != nil {
		c, ok = n.deps.Contributions.Contribution(hs[0])
	}
	switch {
	case !ok:
		return n.codec.WriteBlobStatus(s, wire.BlobNotFound)
	case !n.peers.allowBytes(p, len(c)):
		return n.codec.WriteBlobStatus(s, wire.BlobBusy)
	}
	return n.codec.WriteBlob(s, c)
}

// snapCache keeps the manifest of the last snapshot served, so that the
// chunk requests that follow do not recompute it.
type snapCache struct {
	mu       sync.Mutex
	block    chain.Hash
	weights  []byte
	manifest *wire.SnapManifest
}

// snapshot returns the weights and manifest of the snapshot of block for
// peer p: from the cache, or, if the source serves that block (a stored
// checkpoint: never a replay), loaded after charging p's byte budget for
// the work (the load and the manifest hash up to a second of
// ServeByteRate). busy reports a refused charge.
func (n *Node) snapshot(p peer.ID, block chain.Hash) (w []byte, m *wire.SnapManifest, busy, ok bool) {
	src := n.deps.SnapshotSource
	if src == nil {
		return nil, nil, false, false
	}
	c := &n.snapCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manifest != nil && c.block == block {
		return c.weights, c.manifest, false, true
	}
	size, has := src.HasSnapshot(block)
	if !has || size <= 0 {
		return nil, nil, false, false
	}
	if !n.peers.allowBytes(p, int(min(float64(size), n.cfg.ServeByteRate))) {
		return nil, nil, true, false
	}
	w, err := src.SnapshotWeights(block)
	if err != nil || len(w) == 0 || len(w)%4 != 0 {
		return nil, nil, false, false
	}
	m = buildManifest(block, w, n.cfg.StateChunk)
	if len(m.Leaves) > wire.MaxManifestLeaves {
		return nil, nil, false, false
	}
	c.block, c.weights, c.manifest = block, w, m
	return w, m, false, true
}

func (n *Node) serveSnapManifest(p peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 64)
	if err != nil {
		return err
	}
	hs, err := wire.DecodeHashes(raw, 1)
	if err != nil {
		return err
	}
	_, m, busy, ok := n.snapshot(p, hs[0])
	switch {
	case busy:
		return n.codec.WriteBlobStatus(s, wire.BlobBusy)
	case !ok:
		return n.codec.WriteBlobStatus(s, wire.BlobNotFound)
	}
	data := m.Bytes()
	if !n.peers.allowBytes(p, len(data)) {
		return n.codec.WriteBlobStatus(s, wire.BlobBusy)
	}
	return n.codec.WriteBlob(s, data)
}

func (n *Node) serveSnapChunk(p peer.ID, s network.Stream) error {
	raw, err := n.codec.ReadMsg(s, 64)
	if err != nil {
		return err
	}
	q, err := wire.DecodeSnapChunkRequest(raw)
	if err != nil {
		return err
	}
	w, m, busy, ok := n.snapshot(p, q.Block)
	switch {
	case busy:
		return n.codec.WriteBlobStatus(s, wire.BlobBusy)
	case !ok || int(q.Index) >= len(m.Leaves):
		return n.codec.WriteBlobStatus(s, wire.BlobNotFound)
	}
	off := int(q.Index) * int(m.ChunkSize)
	chunk := w[off : off+m.ChunkLen(int(q.Index))]
	if !n.peers.allowBytes(p, len(chunk)) {
		return n.codec.WriteBlobStatus(s, wire.BlobBusy)
	}
	return n.snapCodec.WriteBlob(s, chunk)
}

// --- requester side ---

// request opens a stream to p, writes req, and hands the stream to read.
// On any error the stream is reset.
func (n *Node) request(ctx context.Context, p peer.ID, proto protocol.ID, req []byte, read func(r io.Reader) error) error {
	if n.closed.Load() {
		return errorf(ErrClosed, "node closed")
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, proto)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	s.SetDeadline(deadline)
	// Reset the stream if the context ends first (Close of the node).
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	err = n.codec.WriteMsg(s, req)
	if err == nil {
		err = s.CloseWrite()
	}
	if err == nil {
		err = read(s)
	}
	if err != nil {
		s.Reset()
		return err
	}
	return s.Close()
}

// exchangeStatus sends our status to p and records p's.
func (n *Node) exchangeStatus(ctx context.Context, p peer.ID) error {
	var theirs *wire.Status
	err := n.request(ctx, p, n.proto.status, n.ourStatus().Bytes(), func(r io.Reader) error {
		raw, err := n.codec.ReadMsg(r, 256)
		if err != nil {
			return err
		}
		theirs, err = wire.DecodeStatus(raw)
		return err
	})
	if err != nil {
		n.penaliseResponse(p, "status", err)
		return err
	}
	n.acceptStatus(p, theirs)
	return nil
}

// acceptStatus records a peer's status; a peer of another network is
// disconnected, and one with more work wakes the sync loop.
func (n *Node) acceptStatus(p peer.ID, st *wire.Status) {
	if st.Genesis != n.cfg.Genesis {
		n.log.Debug().Str("peer", p.String()).Str("genesis", st.Genesis.String()).Msg("peer on another network")
		go n.host.Network().ClosePeer(p)
		return
	}
	n.peers.setStatus(p, st)
	if st.Work().Cmp(n.deps.Chain.BestTip().Work) > 0 {
		n.sync.wakeUp()
	}
}

// fetchHeaders asks p for headers after locator.
func (n *Node) fetchHeaders(ctx context.Context, p peer.ID, locator []chain.Hash, stop chain.Hash, max int) ([]chain.Header, error) {
	if len(locator) > wire.MaxLocator {
		locator = append(locator[:wire.MaxLocator-1:wire.MaxLocator-1], locator[len(locator)-1])
	}
	q := &wire.HeadersRequest{Locator: locator, Stop: stop, Max: uint32(max)}
	var hs []chain.Header
	err := n.request(ctx, p, n.proto.headers, q.Bytes(), func(r io.Reader) error {
		raw, err := n.codec.ReadMsg(r, wire.MaxFrame)
		if err != nil {
			return err
		}
		hs, err = wire.DecodeHeaders(raw, max)
		return err
	})
	if err != nil {
		n.penaliseResponse(p, "headers", err)
		return nil, err
	}
	return hs, nil
}

// fetchBlocks asks p for the bodies of hashes and returns those it had,
// verified against their headers (wire.VerifyBody), with their sizes as
// received; missing entries are nil. Any malformed or mismatched body
// fails the whole request and penalises p. admit, if set, is called with
// each body's declared size before the body is read: its error ends the
// request there (the stream is reset) and is returned with the blocks
// read so far (out and sizes then cover only those), without a penalty;
// so does a Busy answer (wire.ErrBusy: the responder's byte budget).
func (n *Node) fetchBlocks(ctx context.Context, p peer.ID, hashes []chain.Hash, admit func(size int) error) ([]*chain.Block, []int, error) {
	out := make([]*chain.Block, len(hashes))
	sizes := make([]int, len(hashes))
	read := 0
	var admitErr error
	if admit != nil {
		inner := admit
		admit = func(size int) error {
			admitErr = inner(size)
			return admitErr
		}
	}
	err := n.request(ctx, p, n.proto.blocks, wire.EncodeHashes(hashes), func(r io.Reader) error {
		for i, h := range hashes {
			raw, err := n.codec.ReadBlobFunc(r, n.cfg.MaxBlockSize, admit)
			if errors.Is(err, wire.ErrNotFound) {
				read = i + 1
				continue
			}
			if err != nil {
				return err
			}
			b, err := wire.DecodeBody(h, raw)
			if err != nil {
				return err
			}
			out[i], sizes[i], read = b, len(raw), i+1
		}
		return nil
	})
	n.stats.bodyFetches.Add(1)
	if err != nil && (errors.Is(err, wire.ErrBusy) || admitErr != nil && errors.Is(err, admitErr)) {
		return out[:read], sizes[:read], err
	}
	if err != nil {
		n.penaliseResponse(p, "blocks", err)
		return nil, nil, err
	}
	return out, sizes, nil
}

// fetchBlock fetches one body from p.
func (n *Node) fetchBlock(ctx context.Context, p peer.ID, h chain.Hash) (*chain.Block, error) {
	bs, _, err := n.fetchBlocks(ctx, p, []chain.Hash{h}, nil)
	if err != nil {
		return nil, err
	}
	if bs[0] == nil {
		return nil, errorf(ErrNotFound, "peer %s does not have block %s", p, h)
	}
	return bs[0], nil
}

// fetchBlockTxs fetches the transactions at positions idx of the compact
// block cb (hash) from p: one per index, each checked against the txid
// the compact block lists there (wire.ErrMismatch otherwise).
func (n *Node) fetchBlockTxs(ctx context.Context, p peer.ID, hash chain.Hash, cb *wire.CompactBlock, idx []uint32) ([]*chain.Tx, error) {
	out := make([]*chain.Tx, 0, len(idx))
	q := &wire.BlockTxsRequest{Block: hash, Indexes: idx}
	n.stats.txFetches.Add(1)
	err := n.request(ctx, p, n.proto.blockTxs, q.Bytes(), func(r io.Reader) error {
		for _, i := range idx {
			raw, err := n.codec.ReadBlob(r, wire.MaxTxSize)
			if err != nil {
				return err
			}
			tx, err := wire.DecodeTxMsg(raw)
			if err != nil {
				return err
			}
			if id := tx.TxID(); id != cb.TxIDs[i] {
				return errorf(ErrBadPeerData, "block %s: transaction %d is %s, the compact block lists %s", hash, i+1, id, cb.TxIDs[i])
			}
			out = append(out, tx)
		}
		return nil
	})
	if err != nil {
		n.penaliseResponse(p, "block-txs", err)
		if errors.Is(err, wire.ErrNotFound) {
			return nil, errorf(ErrNotFound, "peer %s does not have block %s", p, hash)
		}
		return nil, err
	}
	return out, nil
}

// fetchContribution fetches a contribution by hash from p, at most
// MaxContributionSize bytes, verified against the hash.
func (n *Node) fetchContribution(ctx context.Context, p peer.ID, h chain.Hash) ([]byte, error) {
	var c []byte
	err := n.request(ctx, p, n.proto.contribution, wire.EncodeHashes([]chain.Hash{h}), func(r io.Reader) error {
		raw, err := n.codec.ReadBlob(r, n.cfg.MaxContributionSize)
		if err != nil {
			return err
		}
		if err := wire.VerifyContribution(h, raw); err != nil {
			return err
		}
		c = raw
		return nil
	})
	if err != nil {
		n.penaliseResponse(p, "contribution", err)
		if errors.Is(err, wire.ErrNotFound) {
			return nil, errorf(ErrNotFound, "peer %s does not have contribution %s", p, h)
		}
		return nil, err
	}
	return c, nil
}

// fetchManifest fetches the snapshot manifest for header h from p and
// verifies it against h's state root.
func (n *Node) fetchManifest(ctx context.Context, p peer.ID, h *chain.Header) (*wire.SnapManifest, error) {
	var m *wire.SnapManifest
	err := n.request(ctx, p, n.proto.snapManifest, wire.EncodeHashes([]chain.Hash{h.BlockHash()}), func(r io.Reader) error {
		raw, err := n.codec.ReadBlob(r, wire.MaxFrame)
		if err != nil {
			return err
		}
		if m, err = wire.DecodeSnapManifest(raw); err != nil {
			return err
		}
		return checkManifest(m, h, n.cfg.StateChunk)
	})
	if err != nil {
		n.penaliseResponse(p, "snap-manifest", err)
		return nil, err
	}
	return m, nil
}

// fetchChunk fetches chunk i of the snapshot m describes and verifies it
// against its leaf.
func (n *Node) fetchChunk(ctx context.Context, p peer.ID, m *wire.SnapManifest, i int) ([]byte, error) {
	q := &wire.SnapChunkRequest{Block: m.Block, Index: uint32(i)}
	want := m.ChunkLen(i)
	var chunk []byte
	err := n.request(ctx, p, n.proto.snapChunk, q.Bytes(), func(r io.Reader) error {
		raw, err := n.codec.ReadBlob(r, want)
		if err != nil {
			return err
		}
		if len(raw) != want || snapLeaf(raw) != m.Leaves[i] {
			return errorf(ErrBadPeerData, "snapshot %s chunk %d does not match its manifest leaf", m.Block, i)
		}
		chunk = raw
		return nil
	})
	if err != nil {
		n.penaliseResponse(p, "snap-chunk", err)
		return nil, err
	}
	return chunk, nil
}
