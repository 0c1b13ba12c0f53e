package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
)

// TestSnapSyncLateNode: node A holds 130 blocks (contributions in every
// 20th); node B starts empty and connects: it indexes A's headers, imports
// A's snapshot of block 100 (A's checkpoint), connects 1..100 without
// replay and replays the rest, ending on A's tip with A's UTXO set and
// weights; the snapshot block's checkpoint is in B's checkpoint directory
// and nothing is left pending.
func TestSnapSyncLateNode(t *testing.T) {
	p := testParams(t)
	g, err := chaintest.NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []*chain.Block
	for i := 1; i <= 130; i++ {
		var opts []chaintest.Opt
		if i%20 == 0 {
			opts = append(opts, chaintest.Contributions(1))
		}
		blocks = append(blocks, g.NextBlock(fmt.Sprintf("b%d", i), nil, opts...))
	}

	ca := testConfig(p, initDir(t, p), "a")
	ca.Train, ca.Mine = false, false
	a := start(t, ca)
	for _, b := range blocks {
		if _, err := a.Chain().ProcessBlock(b, b.Header.Timestamp); err != nil {
			t.Fatalf("A: block %d: %v", b.Header.Height, err)
		}
	}
	cb := testConfig(p, initDir(t, p), "b")
	cb.Train, cb.Mine = false, false
	b := start(t, cb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	want := blocks[len(blocks)-1].Hash()
	waitFor(t, 60*time.Second, "B at A's tip", func() bool { return b.Chain().Tip().Hash == want })
	if n := b.net.Stats().SnapshotImports; n != 1 {
		t.Fatalf("B imported %d snapshots, want 1", n)
	}
	if h, _, ok := b.Chain().PendingSnapshot(); ok {
		t.Fatalf("snapshot of %s still pending", h)
	}
	snap := blocks[99].Hash()
	ckpt := filepath.Join(b.layout.Checkpoints, fmt.Sprintf("weights-%012d-%s.ckpt", 100, snap))
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("no checkpoint of the snapshot block in B's data directory: %v", err)
	}
	ua, _, err := chaintest.UtxoSetHash(a.Chain())
	if err != nil {
		t.Fatal(err)
	}
	ub, _, err := chaintest.UtxoSetHash(b.Chain())
	if err != nil {
		t.Fatal(err)
	}
	if ua != ub {
		t.Fatalf("UTXO set %s, A has %s", ub, ua)
	}
	if !slices.Equal(b.Chain().Weights(), g.Weights("b130")) {
		t.Fatal("B's tip weights differ from the generator's")
	}
	waitFor(t, 30*time.Second, "B's loss at the tip", func() bool {
		lp, ok := b.ev.latest()
		return ok && lp.Hash == want
	})
}
