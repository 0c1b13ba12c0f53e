package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/store"
	"github.com/gradientcoin/gradientcoin/net/internal/nettest"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// bigFrame returns one single-segment zstd frame of n bytes made by an
// encoder without our limits (a "legal" frame above MaxFrame).
func bigFrame(t testing.TB, n int) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithSingleSegment(true), zstd.WithWindowSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(bytes.Repeat([]byte{7}, n), nil)
}

func heapTotal() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestHostileGossip: an attacker publishes malformed, truncated,
// oversized and zstd-bomb messages on every topic. The victim rejects
// (and charges) what is provably bad, ignores what is merely unusable,
// never allocates anywhere near a bomb's size, and keeps working; its
// bbolt store, reopened afterwards, holds exactly the valid chain.
func TestHostileGossip(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(3)
	dbPath := filepath.Join(t.TempDir(), "chain.db")
	victim, db := newTNodeBolt(t, p, "victim", dbPath, func(c *Config, _ *Deps) { c.BanThreshold = 1e9 })
	helper := newTNode(t, p, "helper")
	for _, tn := range []*tnode{victim, helper} {
		tn.feed(t, prefix...)
	}
	connect(t, helper, victim)

	codec := wire.DefaultCodec()
	z := func(raw []byte) []byte { return codec.Compress(nil, raw) }
	valid := b.g.NextBlock("x", nil)
	b.g.SetTip(b.g.Name(prefix[len(prefix)-1].Hash()))
	cbRaw := wire.NewCompactBlock(valid).Bytes()
	hugeCount := append([]byte(nil), cbRaw[:1+chain.HeaderSize+1]...)
	hugeCount = binary.LittleEndian.AppendUint32(hugeCount, 1<<30)
	bigContrib := wire.NewCompactBlock(b.g.NextBlock("y", nil, chaintest.Contributions(1)))
	b.g.SetTip(b.g.Name(prefix[len(prefix)-1].Hash()))
	bigContrib.Contributions[0].Size = chain.MaxContributionBytes
	badPoW := b.g.NextBlock("badpow", nil, chaintest.BadPoW())
	b.g.SetTip(b.g.Name(prefix[len(prefix)-1].Hash()))
	// A valid block whose parent the victim does not have.
	orphanParent := b.g.NextBlock("op", nil)
	orphan := b.g.NextBlock("orphan", nil)
	b.g.SetTip(b.g.Name(prefix[len(prefix)-1].Hash()))
	_ = orphanParent
	lying := nettest.RLEBomb(16<<20, true)
	binary.LittleEndian.PutUint64(lying[5:], 1000)
	coinbaseTx := valid.Txs[0]
	spend := b.g.PayTx(b.g.CoinbaseOut("b1", 0), 10)
	ann := &wire.ContributionAnnounce{Parent: chain.Hash{1}, Hash: chain.Hash{2}, Size: 100}

	type topic int
	const (
		blocks topic = iota
		txs
		contribs
	)
	cases := []struct {
		name    string
		topic   topic
		data    []byte
		want    pubsub.ValidationResult
		penalty float64
	}{
		{"block: not zstd", blocks, []byte("definitely not a zstd frame"), pubsub.ValidationReject, PenaltyMalformed},
		{"block: empty", blocks, nil, pubsub.ValidationReject, PenaltyMalformed},
		{"block: zstd of garbage", blocks, z([]byte("garbage")), pubsub.ValidationReject, PenaltyMalformed},
		{"block: truncated compact block", blocks, z(cbRaw[:len(cbRaw)-7]), pubsub.ValidationReject, PenaltyMalformed},
		{"block: trailing byte", blocks, z(append(append([]byte(nil), cbRaw...), 0)), pubsub.ValidationReject, PenaltyMalformed},
		{"block: truncated frame", blocks, z(cbRaw)[:20], pubsub.ValidationReject, PenaltyMalformed},
		{"block: bomb declaring 1 GiB", blocks, nettest.RLEBomb(1<<30, true), pubsub.ValidationReject, PenaltyMalformed},
		{"block: bomb without size", blocks, nettest.RLEBomb(1<<30, false), pubsub.ValidationReject, PenaltyMalformed},
		{"block: bomb lying about size", blocks, lying, pubsub.ValidationReject, PenaltyMalformed},
		{"block: frame of 2 MiB", blocks, bigFrame(t, 2<<20), pubsub.ValidationReject, PenaltyMalformed},
		{"block: txid count 2^30", blocks, z(hugeCount), pubsub.ValidationReject, PenaltyMalformed},
		{"block: contribution of 256 MiB", blocks, z(bigContrib.Bytes()), pubsub.ValidationReject, PenaltyMalformed},
		{"block: bad proof of work", blocks, z(wire.NewCompactBlock(badPoW).Bytes()), pubsub.ValidationReject, PenaltyInvalidBlock},
		{"block: unknown parent", blocks, z(wire.NewCompactBlock(orphan).Bytes()), pubsub.ValidationIgnore, 0},
		{"tx: garbage", txs, z([]byte{1, 2, 3}), pubsub.ValidationReject, PenaltyMalformed},
		{"tx: bomb", txs, nettest.RLEBomb(1<<30, true), pubsub.ValidationReject, PenaltyMalformed},
		{"tx: truncated", txs, z(spend.Bytes()[:40]), pubsub.ValidationReject, PenaltyMalformed},
		{"tx: coinbase", txs, z(coinbaseTx.Bytes()), pubsub.ValidationReject, PenaltyInvalidTx},
		{"contribution: garbage", contribs, z([]byte{1}), pubsub.ValidationReject, PenaltyMalformed},
		{"contribution: bomb", contribs, nettest.RLEBomb(1<<20, true), pubsub.ValidationReject, PenaltyMalformed},
		{"contribution: zero size", contribs, z((&wire.ContributionAnnounce{Size: 0}).Bytes()), pubsub.ValidationReject, PenaltyMalformed},
		{"contribution: unknown parent", contribs, z(ann.Bytes()), pubsub.ValidationIgnore, 0},
	}
	for _, tc := range cases {
		// A fresh attacker per case: gossipsub graylists a peer after a
		// few rejected messages (its P4 score), after which its RPCs are
		// dropped unread — which is the point, but hides the next case.
		attacker := newTNode(t, p, "attacker")
		attacker.feed(t, prefix...)
		connect(t, attacker, victim)
		waitMesh(t, []*tnode{victim, attacker})
		topics := map[topic]*pubsub.Topic{blocks: attacker.n.tBlocks, txs: attacker.n.tTxs, contribs: attacker.n.tC}
		aid := attacker.n.ID()
		before := victim.n.Stats()
		score := victim.n.Score(aid)
		alloc := heapTotal()
		if err := topics[tc.topic].Publish(context.Background(), tc.data); err != nil {
			t.Fatalf("%s: publish: %v", tc.name, err)
		}
		ok := waitForOK(5*time.Second, func() bool {
			s := victim.n.Stats()
			return s.GossipRejected+s.GossipIgnored+s.GossipAccepted > before.GossipRejected+before.GossipIgnored+before.GossipAccepted
		})
		if !ok {
			t.Fatalf("%s: the victim never validated the message", tc.name)
		}
		s := victim.n.Stats()
		switch tc.want {
		case pubsub.ValidationReject:
			if s.GossipRejected != before.GossipRejected+1 {
				t.Fatalf("%s: not rejected (stats %+v)", tc.name, s)
			}
		case pubsub.ValidationIgnore:
			if s.GossipIgnored != before.GossipIgnored+1 {
				t.Fatalf("%s: not ignored (stats %+v)", tc.name, s)
			}
		}
		if got := victim.n.Score(aid) - score; got < tc.penalty-0.5 || got > tc.penalty+0.5 {
			t.Fatalf("%s: attacker charged %.1f points, want %v", tc.name, got, tc.penalty)
		}
		if grew := heapTotal() - alloc; grew > 64<<20 {
			t.Fatalf("%s: %d MiB allocated while handling one message", tc.name, grew>>20)
		}
		attacker.n.Close()
	}
	// An RPC above gossipsub's size limit, written straight to the
	// victim's pubsub stream, only costs the attacker that stream.
	attacker := newTNode(t, p, "attacker")
	connect(t, attacker, victim)
	s, err := attacker.n.Host().NewStream(context.Background(), victim.n.ID(), protocol.ID("/meshsub/1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	var lenbuf [binary.MaxVarintLen64]byte
	s.Write(lenbuf[:binary.PutUvarint(lenbuf[:], 64<<20)])
	s.Write(make([]byte, 64<<10))
	s.Close()

	// The victim still works: a valid block from the helper reaches it.
	helper.mine(t, valid)
	waitFor(t, 10*time.Second, "victim accepts a valid block after the attack", func() bool { return victim.tip() == valid.Hash() })
	if victim.tip() == orphan.Hash() {
		t.Fatal("victim took the orphan")
	}

	// The store holds the valid chain and nothing the attacker sent.
	closeBolt(victim, db)
	db, err = store.Open(dbPath, &store.Options{NoSync: true})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	defer db.Close()
	bc, err := chain.New(chain.Config{Params: p, Store: db})
	if err != nil {
		t.Fatalf("reopen chain: %v", err)
	}
	defer bc.Close()
	if got := bc.Tip().Hash; got != valid.Hash() {
		t.Fatalf("reopened tip %s, want %s", got, valid.Hash())
	}
	for name, h := range map[string]chain.Hash{"bad proof of work": badPoW.Hash(), "orphan": orphan.Hash()} {
		if _, err := db.FetchBlock(h); !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("store holds the %s block (err %v)", name, err)
		}
	}
}

// TestBanAfterMalformedFlood: with the default threshold, five
// malformed messages get the sender banned and disconnected.
func TestBanAfterMalformedFlood(t *testing.T) {
	p := chain.DevnetParams()
	victim := newTNode(t, p, "victim")
	attacker := newTNode(t, p, "attacker")
	connect(t, attacker, victim)
	waitMesh(t, []*tnode{victim, attacker})
	for i := 0; !victim.n.IsBanned(attacker.n.ID()); i++ {
		if i == 10 {
			t.Fatalf("not banned after %d malformed messages (score %v)", i, victim.n.Score(attacker.n.ID()))
		}
		attacker.n.tBlocks.Publish(context.Background(), []byte(fmt.Sprintf("junk %d", i)))
		r := victim.n.Stats().GossipRejected
		waitForOK(2*time.Second, func() bool { return victim.n.Stats().GossipRejected > r })
	}
	waitFor(t, 5*time.Second, "attacker disconnected", func() bool { return !connected(victim, attacker) })
	if got := victim.n.Stats().Bans; got != 1 {
		t.Fatalf("%d bans, want 1", got)
	}
}

// rawRequest writes req (raw bytes, not framed) on a new stream to the
// victim and returns what came back and how the stream ended.
func rawRequest(t *testing.T, from, to *tnode, proto protocol.ID, req []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := from.n.Host().NewStream(ctx, to.n.ID(), proto)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	s.Write(req)
	s.CloseWrite()
	return io.ReadAll(s)
}

func framed(raw []byte) []byte {
	var b bytes.Buffer
	wire.DefaultCodec().WriteMsg(&b, raw)
	return b.Bytes()
}

// TestHostileRequests: malformed requests on every request protocol are
// answered with a reset stream and charged; the responder keeps serving.
func TestHostileRequests(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(3)
	victim := newTNode(t, p, "victim", func(c *Config, _ *Deps) { c.BanThreshold = 1e9 })
	attacker := newTNode(t, p, "attacker")
	victim.feed(t, blocks...)
	connect(t, attacker, victim)
	bomb := nettest.RLEBomb(1<<30, true)
	bombFrame := binary.LittleEndian.AppendUint32(nil, uint32(len(bomb)))
	bombFrame = append(bombFrame, bomb...)
	vn := victim.n
	cases := []struct {
		name    string
		proto   protocol.ID
		req     []byte
		penalty float64
	}{
		{"blocks: not framed", vn.proto.blocks, []byte("GET /"), PenaltyMalformed},
		{"blocks: length 4 GiB", vn.proto.blocks, []byte{0xff, 0xff, 0xff, 0xff}, PenaltyMalformed},
		{"blocks: bomb", vn.proto.blocks, bombFrame, PenaltyMalformed},
		{"blocks: empty hash list", vn.proto.blocks, framed(wire.EncodeHashes(nil)), PenaltyMalformed},
		{"blocks: 65 hashes", vn.proto.blocks, framed(wire.EncodeHashes(make([]chain.Hash, 65))), PenaltyMalformed},
		{"blocks: truncated frame", vn.proto.blocks, framed(wire.EncodeHashes([]chain.Hash{{1}}))[:10], 0},
		{"headers: max 0", vn.proto.headers, framed((&wire.HeadersRequest{Locator: []chain.Hash{{1}}}).Bytes()), PenaltyMalformed},
		{"headers: no locator", vn.proto.headers, framed((&wire.HeadersRequest{Max: 5}).Bytes()), PenaltyMalformed},
		{"status: garbage", vn.proto.status, framed([]byte{1, 2}), PenaltyMalformed},
		{"contribution: two hashes", vn.proto.contribution, framed(wire.EncodeHashes([]chain.Hash{{1}, {2}})), PenaltyMalformed},
		{"snap-chunk: bomb", vn.proto.snapChunk, bombFrame, PenaltyMalformed},
		{"snap-manifest: empty", vn.proto.snapManifest, nil, 0},
	}
	aid := attacker.n.ID()
	for _, tc := range cases {
		score := vn.Score(aid)
		out, err := rawRequest(t, attacker, victim, tc.proto, tc.req)
		if err == nil && len(out) > 0 {
			t.Fatalf("%s: got a %d-byte answer to a malformed request", tc.name, len(out))
		}
		waitForOK(time.Second, func() bool { return vn.Score(aid)-score >= tc.penalty-0.5 })
		if got := vn.Score(aid) - score; got < tc.penalty-0.5 || got > tc.penalty+0.5 {
			t.Fatalf("%s: charged %.1f, want %v", tc.name, got, tc.penalty)
		}
	}
	// Still serving: a well-formed request from the same peer works.
	got, err := attacker.n.fetchBlock(context.Background(), victim.n.ID(), blocks[1].Hash())
	if err != nil || got.Hash() != blocks[1].Hash() {
		t.Fatalf("valid request after the attack: %v", err)
	}
}

// TestHostileResponses: a peer answering body requests with bombs,
// oversized or lying sizes, truncated streams, or another block's body is
// caught by the requester; data errors are charged, transport errors are
// not; nothing is handed to the chain.
func TestHostileResponses(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(3)
	victim := newTNode(t, p, "victim", func(c *Config, _ *Deps) {
		c.BanThreshold = 1e9
		c.RequestTimeout = 500 * time.Millisecond
	})
	liar := newTNode(t, p, "liar")
	connect(t, victim, liar)
	want := blocks[1]
	mutated := *blocks[1]
	mutated.Txs = []*chain.Tx{blocks[2].Txs[0]}
	codec := wire.DefaultCodec()
	head := func(size uint64) []byte {
		return framed(binary.LittleEndian.AppendUint64([]byte{wire.BlobFound}, size))
	}
	bomb := nettest.RLEBomb(1<<30, true)
	cases := []struct {
		name    string
		respond func(s network.Stream)
		kind    error
		penalty float64
	}{
		{"not found", func(s network.Stream) { codec.WriteBlobStatus(s, wire.BlobNotFound) }, ErrNotFound, 0},
		{"other block", func(s network.Stream) { codec.WriteBlob(s, blocks[2].Bytes()) }, wire.ErrMismatch, PenaltyBadResponse},
		{"mutated body", func(s network.Stream) { codec.WriteBlob(s, mutated.Bytes()) }, wire.ErrMismatch, PenaltyBadResponse},
		{"garbage body", func(s network.Stream) { codec.WriteBlob(s, []byte("not a block")) }, wire.ErrMalformed, PenaltyMalformed},
		{"size above MaxBlockSize", func(s network.Stream) { s.Write(head(1 << 40)) }, wire.ErrTooLarge, PenaltyMalformed},
		{"bomb frame", func(s network.Stream) {
			s.Write(head(1000))
			s.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(bomb))))
			s.Write(bomb)
		}, wire.ErrTooLarge, PenaltyMalformed},
		{"frame length 4 GiB", func(s network.Stream) { s.Write([]byte{0xff, 0xff, 0xff, 0xff}) }, wire.ErrTooLarge, PenaltyMalformed},
		{"truncated", func(s network.Stream) { s.Write(head(uint64(want.SerializeSize()))) }, io.ErrUnexpectedEOF, 0},
		{"silent", func(s network.Stream) { time.Sleep(2 * time.Second) }, nil, 0},
	}
	lid := liar.n.ID()
	for _, tc := range cases {
		liar.n.Host().SetStreamHandler(victim.n.proto.blocks, func(s network.Stream) {
			defer s.Close()
			codec.ReadMsg(s, 4096)
			tc.respond(s)
		})
		score := victim.n.Score(lid)
		alloc := heapTotal()
		got, err := victim.n.fetchBlock(context.Background(), lid, want.Hash())
		if err == nil || got != nil {
			t.Fatalf("%s: accepted a block", tc.name)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.kind)
		}
		if d := victim.n.Score(lid) - score; d < tc.penalty-0.5 || d > tc.penalty+0.5 {
			t.Fatalf("%s: charged %.1f, want %v", tc.name, d, tc.penalty)
		}
		if grew := heapTotal() - alloc; grew > 64<<20 {
			t.Fatalf("%s: %d MiB allocated", tc.name, grew>>20)
		}
	}
	if victim.bc.HaveBlock(want.Hash()) {
		t.Fatal("a hostile response reached the chain")
	}
}
