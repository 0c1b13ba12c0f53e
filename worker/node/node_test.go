package node

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
)

// TestRunStopsOnCancel: a node that trains, mines and networks stops
// within 10 s of its context being cancelled (the SIGTERM path), and a
// reopened node is on the same tip with weights matching its state root.
func TestRunStopsOnCancel(t *testing.T) {
	p := testParams(t)
	dir := initDir(t, p)
	r := start(t, testConfig(p, dir, "n"))
	waitFor(t, 90*time.Second, "height 2", func() bool { return r.Chain().Tip().Height >= 2 })
	waitFor(t, 30*time.Second, "a round in progress", func() bool { s := r.Status(); return s.Training || s.Mining })
	err, took := r.stop()
	if err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if took > 10*time.Second {
		t.Errorf("shutdown took %v, want < 10 s", took)
	}
	tip := r.Chain().Tip()
	t.Logf("stopped at height %d in %v", tip.Height, took)
	if s := r.Status(); s.Height != tip.Height || s.Peers != 0 { // queries after the stop still answer
		t.Errorf("status after stop: %+v", s)
	}
	_ = r.Metrics()
	if err := r.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
	// The shutdown flushed the tip's weights to a checkpoint file.
	if es, err := os.ReadDir(LayoutOf(dir).Checkpoints); err != nil || len(es) == 0 {
		t.Errorf("no weight checkpoint after the shutdown: %v %v", es, err)
	}

	cfg := testConfig(p, dir, "n2")
	cfg.Sync, cfg.Train, cfg.Mine = false, false, false
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer n.Close()
	if got := n.Chain().Tip(); got.Hash != tip.Hash {
		t.Errorf("reopened at %s (height %d), stopped at %s (height %d)", got.Hash, got.Height, tip.Hash, tip.Height)
	}
	if root := chain.Hash(p.Training.Root(n.Chain().Weights())); root != n.Chain().Tip().Header.StateRoot {
		t.Errorf("reopened weights have root %s, tip says %s", root, n.Chain().Tip().Header.StateRoot)
	}
}

// TestTwoNodesPayment: two connected nodes; A mines empty-gradient blocks
// until its first coinbase matures, pays B, and the payment is in B's
// balance one block later. Also checks the query API on both sides.
func TestTwoNodesPayment(t *testing.T) {
	p := testParams(t)
	mat := p.CoinbaseMaturity
	ca := testConfig(p, initDir(t, p), "a")
	ca.Train = false
	ca.MaxHeight = mat + 1
	cb := testConfig(p, initDir(t, p), "b")
	cb.Train, cb.Mine = false, false
	b := start(t, cb)
	ca.Bootstrap = b.Addrs()
	a := start(t, ca)
	waitFor(t, 60*time.Second, fmt.Sprintf("both at height %d", mat+1), func() bool {
		return a.Chain().Tip().Height == mat+1 && b.Chain().Tip().Hash == a.Chain().Tip().Hash
	})
	// At tip mat+1 the coinbases of heights 1 and 2 are spendable in the
	// next block; the other mat−1 are immature.
	if s := a.Status(); s.Peers < 1 || s.Balance != 2*p.Subsidy(1) || s.Immature != (mat-1)*p.Subsidy(1) {
		t.Errorf("A status: peers %d, balance %d, immature %d", s.Peers, s.Balance, s.Immature)
	}
	to, err := b.NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	const amount = 7 * chain.AtomsPerCoin

	// Refused payments change nothing.
	for _, c := range []struct {
		name   string
		to     string
		amount uint64
		kind   error
	}{
		{"overdraft", to, 1000 * chain.AtomsPerCoin, chain.ErrInsufficientFunds},
		{"bad address", "gcdev1nope", amount, chain.ErrBadAddress},
		{"other network's address", chain.EncodeAddress("gctest", chain.Address{1}), amount, chain.ErrBadAddress},
		{"zero amount", to, 0, ErrBadRequest},
	} {
		before := snapshot(t, a.layout.Wallet)
		_, err := a.Send(c.to, c.amount, 0)
		if !errors.Is(err, c.kind) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Send error %v, want %v on one line", c.name, err, c.kind)
		}
		if after := snapshot(t, a.layout.Wallet); after != before {
			t.Errorf("%s: the refused payment changed the wallet file", c.name)
		}
		if a.Mempool().Count() != 0 {
			t.Errorf("%s: mempool holds %d txs", c.name, a.Mempool().Count())
		}
	}
	if _, err := a.Send(to, 1000*chain.AtomsPerCoin, 0); err == nil || !strings.Contains(err.Error(), "have") || !strings.Contains(err.Error(), "need") {
		t.Errorf("overdraft message %q does not name have/need", err)
	}

	id, err := a.Send(to, amount, 2)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	h0 := a.Chain().Tip().Height
	waitFor(t, 20*time.Second, "the payment in B's mempool", func() bool { return b.Mempool().Has(id) })
	a.SetMaxHeight(h0 + 1)
	waitFor(t, 60*time.Second, "B at the next block", func() bool { return b.Chain().Tip().Height == h0+1 })
	if sp, im, err := b.Balance(); err != nil || sp != amount || im != 0 {
		t.Errorf("B balance: spendable %d, immature %d, %v; want %d", sp, im, err, amount)
	}
	hist, err := b.History()
	if err != nil || len(hist) != 1 || hist[0].TxID != id || hist[0].Received != amount || hist[0].Height != h0+1 || hist[0].Pending {
		t.Errorf("B history: %+v, %v", hist, err)
	}
	ha, err := a.History()
	if err != nil {
		t.Fatal(err)
	}
	var sent *WalletTx
	for i := range ha {
		if ha[i].TxID == id {
			sent = &ha[i]
		}
	}
	if sent == nil || sent.Net() >= 0 || sent.Fee == 0 || uint64(-sent.Net()) != amount+sent.Fee || len(ha) != int(h0+2) {
		t.Errorf("A history (%d entries): payment %+v", len(ha), sent)
	}
	rb := b.RecentBlocks(3)
	if len(rb) != 3 || rb[0].Height != h0+1 || rb[0].Txs != 1 || rb[0].Mine || rb[0].Reward != p.Subsidy(h0+1)+sent.Fee {
		t.Errorf("B recent blocks: %+v", rb)
	}
	if ra := a.RecentBlocks(1); len(ra) != 1 || !ra[0].Mine {
		t.Errorf("A recent blocks: %+v", ra)
	}
	// libp2p's bandwidth meters are sampled about once a second.
	waitFor(t, 10*time.Second, "bytes sent in A's metrics", func() bool { return a.Metrics().BytesSent > 0 })
	m := a.Metrics()
	if m.BlocksMined != h0+1 || m.Height != h0+1 || m.Peers < 1 || m.BytesReceived == 0 || m.TxsSent != 1 {
		t.Errorf("A metrics: %+v", m)
	}
}

// TestKillRestart: a node training and mining in a child process is
// killed with SIGKILL three times; after each kill the data directory
// reopens on a chain that contains every block the child reported, with
// the wallet owning every coinbase (balance = Σ subsidies) and weights
// matching the tip's state root.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	p := testParams(t)
	dir := initDir(t, p)
	for round, target := range []uint64{2, 4, 6} {
		h, hash := runChildUntil(t, dir, target)
		cfg := testConfig(p, dir, "check")
		cfg.Sync, cfg.Train, cfg.Mine = false, false, false
		n, err := Open(cfg)
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", round, err)
		}
		tip := n.Chain().Tip()
		if got, ok := n.Chain().HashByHeight(h); !ok || got != hash || tip.Height < h {
			t.Errorf("kill %d: child reported %s at height %d; reopened chain has %s there (tip %d)", round, hash, h, got, tip.Height)
		}
		var want uint64
		for i := uint64(1); i <= tip.Height; i++ {
			want += p.Subsidy(i)
		}
		sp, im, err := n.Balance()
		if err != nil || sp+im != want {
			t.Errorf("kill %d: balance %d + %d (%v), want %d for %d blocks", round, sp, im, err, want, tip.Height)
		}
		if root := chain.Hash(p.Training.Root(n.Chain().Weights())); root != tip.Header.StateRoot {
			t.Errorf("kill %d: weights root %s, tip state root %s", round, root, tip.Header.StateRoot)
		}
		n.Close()
	}
}

// runChildUntil starts the child node on dir and SIGKILLs it once it has
// reported a block at height ≥ target; it returns that report.
func runChildUntil(t *testing.T, dir string, target uint64) (uint64, chain.Hash) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "GC_NODE_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(120 * time.Second)
	for {
		select {
		case <-timeout:
			t.Fatalf("child did not reach height %d", target)
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child exited before height %d", target)
			}
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "TIP" {
				continue
			}
			h, _ := strconv.ParseUint(f[1], 10, 64)
			hash, err := chain.ParseHash(f[2])
			if err != nil {
				t.Fatalf("child line %q: %v", l, err)
			}
			if h >= target {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				go func() {
					for range lines {
					}
				}()
				return h, hash
			}
		}
	}
}

// TestKillChild is the child of TestKillRestart (only with GC_NODE_CHILD):
// it runs a training, mining node and prints "TIP height hash" after every
// block it mined, once the block is stored.
func TestKillChild(t *testing.T) {
	dir := os.Getenv("GC_NODE_CHILD")
	if dir == "" {
		t.Skip("child of TestKillRestart")
	}
	p := testParams(t)
	cfg := testConfig(p, dir, "child")
	cfg.Sync = false
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Chain().Subscribe(func(ev chain.TipEvent) { fmt.Printf("TIP %d %s\n", ev.Height, ev.Hash) })
	r := &running{Node: n, done: make(chan error, 1)}
	r.Run(t.Context()) // until killed
}

// TestLossHistory: a training node records a finite loss per tip.
func TestLossHistory(t *testing.T) {
	p := testParams(t)
	cfg := testConfig(p, initDir(t, p), "n")
	cfg.Sync = false
	cfg.MaxHeight = 3
	r := start(t, cfg)
	waitFor(t, 90*time.Second, "loss at height 3", func() bool { lp, ok := r.LatestLoss(); return ok && lp.Height == 3 })
	hist := r.LossHistory()
	for i, lp := range hist {
		if math.IsNaN(lp.Loss) || math.IsInf(lp.Loss, 0) || lp.Loss <= 0 {
			t.Errorf("point %d: loss %v", i, lp.Loss)
		}
		if i > 0 && lp.Height <= hist[i-1].Height {
			t.Errorf("point %d: height %d after %d", i, lp.Height, hist[i-1].Height)
		}
	}
	s := r.Status()
	if s.Loss == nil || *s.Loss != hist[len(hist)-1].Loss || s.Height != 3 || s.TrainOn != true || s.Device == "" {
		t.Errorf("status %+v", s)
	}
	m := r.Metrics()
	if m.TrainSteps < 3*uint64(p.Training.LocalSteps) || m.TokensTrained == 0 || !m.LossKnown || m.Hashes == 0 {
		t.Errorf("metrics %+v", m)
	}
	out, err := r.Generate([]byte("s:cab="), 4, GenerateOptions{})
	if err != nil || len(out) != 4 {
		t.Errorf("Generate: %q, %v", out, err)
	}
	h := uint64(0)
	if _, err := r.Generate(nil, 2, GenerateOptions{Height: &h}); err != nil {
		t.Errorf("Generate at genesis: %v", err)
	}
	h = 99
	if _, err := r.Generate(nil, 2, GenerateOptions{Height: &h}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Generate above the tip: %v", err)
	}

	// The history survives a restart (LossFile), read-only opens included;
	// losses measured on other validation batches are not mixed in.
	hist = r.LossHistory()
	if err, _ := r.stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want []LossPoint
	}{
		{"reopen", func(c *Config) { c.Train, c.Mine = false, false }, hist},
		{"read-only", func(c *Config) { c.Train, c.Mine, c.ReadOnly = false, false, true }, hist},
		{"other validation batches", func(c *Config) { c.Train, c.Mine, c.EvalBatches = false, false, 3 }, nil},
	} {
		c2 := cfg
		c.edit(&c2)
		n, err := Open(c2)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := n.LossHistory()
		n.Close()
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d points, want %d", c.name, len(got), len(c.want))
		}
		for i := range got {
			if g, w := got[i], c.want[i]; g.Height != w.Height || g.Hash != w.Hash || g.Loss != w.Loss || !g.Time.Equal(w.Time) {
				t.Errorf("%s: point %d: %+v, want %+v", c.name, i, g, w)
			}
		}
	}
}

// TestTrainOnTextFile: a node trains on a text file (--data) and the loss
// is measured on its validation split.
func TestTrainOnTextFile(t *testing.T) {
	p := testParams(t)
	var b strings.Builder
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog %d times.\n", i, i%7)
	}
	path := t.TempDir() + "/corpus.txt"
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(p, initDir(t, p), "text")
	cfg.Sync, cfg.DataPath, cfg.MaxHeight = false, path, 2
	r := start(t, cfg)
	waitFor(t, 90*time.Second, "loss at height 2", func() bool { lp, ok := r.LatestLoss(); return ok && lp.Height == 2 })
	if s := r.Status(); s.Shard == "" || s.Loss == nil {
		t.Errorf("status %+v", s)
	}
}
