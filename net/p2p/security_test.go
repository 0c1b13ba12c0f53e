package p2p

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// countingSource counts the snapshot loads a node asks its source for.
type countingSource struct {
	SnapshotSource
	loads atomic.Int64
}

func (c *countingSource) SnapshotWeights(h chain.Hash) ([]byte, error) {
	c.loads.Add(1)
	return c.SnapshotSource.SnapshotWeights(h)
}

// TestSnapshotServingNoReplay: a peer can only get snapshots that are
// stored checkpoints: any other block is NotFound without a single model
// application (before, the handler replayed weights for any stored block
// on the peer's behalf), and a peer over its byte budget is told Busy
// before anything is loaded.
func TestSnapshotServingNoReplay(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(25, chaintest.Contributions(1))
	be := &countingBackend{}
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore(), Backend: be, CheckpointInterval: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bc.Close() })
	for _, blk := range blocks {
		if _, err := bc.ProcessBlock(blk, blk.Header.Timestamp); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		rate      float64      // server's ServeByteRate
		pre       *chain.Block // fetched (and served) first, if set
		block     *chain.Block
		want      error // nil: served
		wantLoads int64
	}{
		{"advertised snapshot (a checkpoint)", 64 << 20, nil, blocks[19], nil, 1},
		{"an older checkpoint", 64 << 20, blocks[19], blocks[9], nil, 2},
		{"stored block without a checkpoint", 64 << 20, nil, blocks[4], wire.ErrNotFound, 0},
		{"genesis (no checkpoint)", 64 << 20, nil, b.g.Block("genesis"), wire.ErrNotFound, 0},
		{"a second load over the peer's byte budget", 1000, blocks[19], blocks[9], wire.ErrBusy, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &countingSource{}
			server := newTNodeOn(t, bc, "server", func(cfg *Config, d *Deps) {
				d.SnapshotSource.(*ChainAdapter).SnapshotInterval = 10
				cfg.ServeByteRate = c.rate
				src.SnapshotSource = d.SnapshotSource
				d.SnapshotSource = src
			})
			client := newTNode(t, p, "client")
			connect(t, client, server)
			if h, height, ok := server.n.deps.SnapshotSource.LatestSnapshot(); !ok || height != 20 || h != blocks[19].Hash() {
				t.Fatalf("advertised snapshot at %d (%v), want block 20", height, ok)
			}
			applies := be.n.Load()
			if c.pre != nil {
				if _, err := client.n.fetchManifest(context.Background(), server.n.ID(), &c.pre.Header); err != nil {
					t.Fatalf("first manifest: %v", err)
				}
			}
			m, err := client.n.fetchManifest(context.Background(), server.n.ID(), &c.block.Header)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("manifest: %v", err)
			case c.want == nil:
				chunk, err := client.n.fetchChunk(context.Background(), server.n.ID(), m, 0)
				if err != nil || len(chunk) == 0 {
					t.Fatalf("chunk 0: %v", err)
				}
			case !errors.Is(err, c.want):
				t.Fatalf("manifest: %v, want %v", err, c.want)
			}
			if n := be.n.Load() - applies; n != 0 {
				t.Fatalf("serving cost %d model applications (a replay)", n)
			}
			if n := src.loads.Load(); n != c.wantLoads {
				t.Fatalf("%d snapshot loads, want %d", n, c.wantLoads)
			}
		})
	}
}
