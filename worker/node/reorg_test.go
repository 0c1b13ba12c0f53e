package node

import (
	"context"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
)

// TestReorgOnConnect: two training miners build separate chains (4 and 2
// blocks) while apart; once connected, the shorter one reorganises onto
// the longer: same tip and state root, weights matching it (rolled back
// and replayed), the reorg counted.
func TestReorgOnConnect(t *testing.T) {
	p := testParams(t)
	ca := testConfig(p, initDir(t, p), "a")
	ca.MaxHeight = 4
	cb := testConfig(p, initDir(t, p), "b")
	cb.MaxHeight = 2
	a, b := start(t, ca), start(t, cb)
	waitFor(t, 120*time.Second, "A at 4 and B at 2", func() bool {
		return a.Chain().Tip().Height == 4 && b.Chain().Tip().Height == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "B on A's tip", func() bool { return b.Chain().Tip().Hash == a.Chain().Tip().Hash })
	tip := b.Chain().Tip()
	if tip.Header.StateRoot != a.Chain().Tip().Header.StateRoot {
		t.Errorf("state roots differ")
	}
	if root := chain.Hash(p.Training.Root(b.Chain().Weights())); root != tip.Header.StateRoot {
		t.Errorf("B's weights have root %s, tip says %s", root, tip.Header.StateRoot)
	}
	if m := b.Metrics(); m.Reorgs < 1 {
		t.Errorf("B counted %d reorgs", m.Reorgs)
	}
	// B's two orphaned coinbases are gone from its balance.
	if sp, im, err := b.Balance(); err != nil || sp+im != 0 {
		t.Errorf("B balance after the reorg: %d + %d, %v", sp, im, err)
	}
}

// TestPooledContribution: a trainer that does not mine announces its
// contribution; a pooled miner includes it in its next block, which the
// trainer accepts (rebuilding the compact block from its pool).
func TestPooledContribution(t *testing.T) {
	p := testParams(t)
	ca := testConfig(p, initDir(t, p), "miner")
	ca.Train, ca.Pooled, ca.MaxHeight = false, true, 1
	cb := testConfig(p, initDir(t, p), "trainer")
	cb.Mine, cb.Pooled = false, true
	b := start(t, cb)
	ca.Bootstrap = b.Addrs()
	a := start(t, ca)
	waitFor(t, 60*time.Second, "both at height 1", func() bool {
		return a.Chain().Tip().Height == 1 && b.Chain().Tip().Hash == a.Chain().Tip().Hash
	})
	tip1 := a.Chain().Tip().Hash
	waitFor(t, 60*time.Second, "the trainer's contribution in the miner's pool", func() bool { return a.pool.count(tip1) >= 1 })
	a.SetMaxHeight(2)
	waitFor(t, 60*time.Second, "both at height 2", func() bool {
		return a.Chain().Tip().Height == 2 && b.Chain().Tip().Hash == a.Chain().Tip().Hash
	})
	blk, err := b.Chain().BlockByHeight(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(blk.Contributions) != 1 {
		t.Fatalf("block 2 has %d contributions, want the trainer's", len(blk.Contributions))
	}
	if prev, _ := b.Chain().HeaderByHash(tip1); blk.Header.StateRoot == prev.StateRoot {
		t.Error("block 2 left the state root unchanged")
	}
	if m := b.Metrics(); m.Contributions < 1 || m.BlocksMined != 0 {
		t.Errorf("trainer metrics %+v", m)
	}
}
