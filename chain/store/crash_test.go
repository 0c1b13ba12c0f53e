package store_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

// The crash test re-executes the test binary as a child that connects a
// prepared list of blocks (a main branch, then a longer fork that forces a
// reorg of 20 blocks) and kills it with SIGKILL at random moments. After
// every kill the parent reopens the store and the chain and checks that
// the tip, the UTXO set (hash) and the supply equal a replay of the tip's
// branch from genesis, that the weights match the tip's state root, and
// that every block the child acknowledged (ProcessBlock returned) is
// stored and no more work than the tip.

const crashEnv = "GRADIENTCOIN_CRASH_DIR"

func crashConfig(dir string, st chain.Store) chain.Config {
	return chain.Config{
		Params:             chaintest.Params(),
		Store:              st,
		CheckpointDir:      filepath.Join(dir, "weights"),
		CheckpointInterval: 8,
	}
}

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	blocks, err := readBlocks(filepath.Join(dir, "blocks.bin"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "chain.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(crashConfig(dir, st))
	if err != nil {
		t.Fatal(err)
	}
	acks, err := os.OpenFile(filepath.Join(dir, "acks"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "READY") // the parent times most kills from here
	for _, b := range blocks {
		_, err := bc.ProcessBlock(b, b.Header.Timestamp)
		if err != nil && !errors.Is(err, chain.ErrDuplicateBlock) {
			t.Fatalf("block %s: %v", b.Hash(), err)
		}
		h := b.Hash()
		if _, err := acks.Write(h[:]); err != nil { // a write(2): survives SIGKILL
			t.Fatal(err)
		}
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

type expectation struct {
	utxo   chain.Hash
	supply uint64
	work   *big.Int
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	p := chaintest.Params()
	g, err := chaintest.NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	mainBr := g.Branch("m", 90, 100, 7)
	g.SetTip("m70")
	fork := g.Branch("f", 30, 200, 5) // height 100 > 90: reorg of 20 blocks at f21
	list := append(append([]*chain.Block(nil), mainBr...), fork...)
	if err := writeBlocks(filepath.Join(dir, "blocks.bin"), list); err != nil {
		t.Fatal(err)
	}

	// Expected state with each block as the tip, by replaying its branch.
	want := map[chain.Hash]expectation{}
	record := func(blocks []*chain.Block) {
		bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
		if err != nil {
			t.Fatal(err)
		}
		put := func() {
			h, _, err := chaintest.UtxoSetHash(bc)
			if err != nil {
				t.Fatal(err)
			}
			tip := bc.Tip()
			want[tip.Hash] = expectation{utxo: h, supply: tip.Supply, work: tip.Work}
		}
		put()
		for _, b := range blocks {
			if res, err := bc.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
				t.Fatalf("replay %s: %+v %v", g.Describe(b.Hash()), res, err)
			}
			put()
		}
	}
	record(mainBr)
	record(append(append([]*chain.Block(nil), mainBr[:70]...), fork...))

	finalHeight := fork[len(fork)-1].Header.Height
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, runs, completed := 0, 0, 0
	var tips []uint64
	for kills < 50 && runs < 200 {
		runs++
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var out lockedBuf
		cmd.Stderr = &out
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{}, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				out.Write([]byte(sc.Text() + "\n"))
				if sc.Text() == "READY" {
					ready <- struct{}{}
				}
			}
		}()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// One kill in five at a random moment from the start (opening the
		// store, rebuilding weights, finishing a reorg); the others a few
		// blocks into the work, timed from the child's READY.
		var delay time.Duration
		if rng.IntN(5) == 0 {
			delay = time.Duration(rng.IntN(400)) * time.Millisecond
		} else {
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("run %d: child exited before READY: %v\n%s", runs, err, out.String())
			case <-time.After(60 * time.Second):
				t.Fatalf("run %d: child not ready", runs)
			}
			delay = time.Duration(rng.IntN(60)) * time.Millisecond
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: child failed: %v\n%s", runs, err, out.String())
			}
			completed++
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			var ee *exec.ExitError
			if errors.As(err, &ee) && !ee.Exited() {
				kills++
			} else if err != nil {
				t.Fatalf("run %d: child failed: %v\n%s", runs, err, out.String())
			} else {
				completed++
			}
		}
		tips = append(tips, verifyAfterCrash(t, dir, want, runs))
		if tips[len(tips)-1] == finalHeight {
			// The child connected the whole list: start over from an
			// empty store, so that on a fast machine later kills still
			// land mid-work rather than in a child with nothing to do.
			for _, name := range []string{"chain.db", "weights", "acks"} {
				if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if kills < 50 {
		t.Fatalf("only %d of %d runs were killed", kills, runs)
	}
	// A last run to the end: the tip is the fork's last block.
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	verifyAfterCrash(t, dir, want, runs+1)
	st, err := store.Open(filepath.Join(dir, "chain.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bc, err := chain.New(crashConfig(dir, st))
	if err != nil {
		t.Fatal(err)
	}
	if tip := bc.Tip(); tip.Hash != fork[len(fork)-1].Hash() {
		t.Fatalf("final tip %s, want %s", g.Describe(tip.Hash), g.Describe(fork[len(fork)-1].Hash()))
	}
	t.Logf("%d runs: %d killed, %d completed; tip heights after each restart: %v", runs, kills, completed, tips)
}

// verifyAfterCrash reopens the chain and checks it against want.
func verifyAfterCrash(t *testing.T, dir string, want map[chain.Hash]expectation, run int) uint64 {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "chain.db"), nil)
	if err != nil {
		t.Fatalf("run %d: reopen store: %v", run, err)
	}
	defer st.Close()
	p := chaintest.Params()
	bc, err := chain.New(crashConfig(dir, st))
	if err != nil {
		t.Fatalf("run %d: reopen chain: %v", run, err)
	}
	defer bc.Close()
	tip := bc.Tip()
	exp, ok := want[tip.Hash]
	if !ok {
		t.Fatalf("run %d: tip %s at height %d is not a block of the list", run, tip.Hash, tip.Height)
	}
	h, all, err := chaintest.UtxoSetHash(bc)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, u := range all {
		sum += u.Entry.Value
	}
	switch {
	case h != exp.utxo:
		t.Fatalf("run %d: tip height %d: UTXO set hash %s, replay %s", run, tip.Height, h, exp.utxo)
	case tip.Supply != exp.supply || sum != exp.supply:
		t.Fatalf("run %d: tip height %d: supply %d (UTXO sum %d), replay %d", run, tip.Height, tip.Supply, sum, exp.supply)
	case tip.Supply != p.SupplyAt(tip.Height):
		t.Fatalf("run %d: supply %d ≠ Σ subsidies %d", run, tip.Supply, p.SupplyAt(tip.Height))
	case chain.Hash(p.Training.Root(bc.Weights())) != tip.Header.StateRoot:
		t.Fatalf("run %d: weights do not match the tip's state root", run)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "acks"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for len(raw) >= chain.HashSize {
		var a chain.Hash
		copy(a[:], raw)
		raw = raw[chain.HashSize:]
		s, ok := bc.StatusOf(a)
		if !ok || s&chain.StatusDataStored == 0 {
			t.Fatalf("run %d: acknowledged block %s lost", run, a)
		}
		if w := want[a].work; w != nil && w.Cmp(tip.Work) > 0 {
			t.Fatalf("run %d: acknowledged block %s has more work than the tip", run, a)
		}
	}
	return tip.Height
}

// lockedBuf collects a child's output from two goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeBlocks(path string, blocks []*chain.Block) error {
	var buf []byte
	for _, b := range blocks {
		raw := b.Bytes()
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(raw)))
		buf = append(buf, raw...)
	}
	return os.WriteFile(path, buf, 0o600)
}

func readBlocks(path string) ([]*chain.Block, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*chain.Block
	for len(raw) > 0 {
		if len(raw) < 4 {
			return nil, fmt.Errorf("blocks file: truncated")
		}
		n := binary.LittleEndian.Uint32(raw)
		if uint64(len(raw)-4) < uint64(n) {
			return nil, fmt.Errorf("blocks file: truncated block")
		}
		b, err := chain.DecodeBlock(raw[4 : 4+n])
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		raw = raw[4+n:]
	}
	return out, nil
}
