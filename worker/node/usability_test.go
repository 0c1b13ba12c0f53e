package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
)

// logBuf is a zerolog sink safe for concurrent writes.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines with the given message.
func (l *logBuf) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, ln := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(ln), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestReadOnlyOpen: a read-only node reads the wallet and chain and
// changes nothing in the data directory (store, LOCK, wallet,
// checkpoints), even after a kill left no tip checkpoint; what would
// write is refused.
func TestReadOnlyOpen(t *testing.T) {
	p := testParams(t)
	dir := initDir(t, p)
	cfg := testConfig(p, dir, "w")
	cfg.Train, cfg.Sync = false, false
	cfg.MaxHeight = 3
	r := start(t, cfg)
	waitFor(t, 60*time.Second, "height 3", func() bool { return r.Chain().Tip().Height >= 3 })
	if err, _ := r.stop(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// As after a kill: no checkpoint of the tip.
	os.RemoveAll(LayoutOf(dir).Checkpoints)
	os.Mkdir(LayoutOf(dir).Checkpoints, 0o700)
	before := snapshot(t, dir)
	ro := testConfig(p, dir, "ro")
	ro.Sync, ro.Train, ro.Mine, ro.ReadOnly = false, false, false, true
	n, err := Open(ro)
	if err != nil {
		t.Fatal(err)
	}
	sp, im, err := n.Balance()
	if err != nil || sp+im != 3*p.Subsidy(1) {
		t.Errorf("read-only balance %d+%d (%v), want %d", sp, im, err, 3*p.Subsidy(1))
	}
	if h, err := n.History(); err != nil || len(h) != 3 {
		t.Errorf("read-only history: %d entries, %v", len(h), err)
	}
	if _, err := n.NewAddress(); !errors.Is(err, wallet.ErrReadOnly) {
		t.Errorf("NewAddress on a read-only node: %v", err)
	}
	// A second reader shares it; a writer is refused.
	n2, err := Open(ro)
	if err != nil {
		t.Errorf("second reader: %v", err)
	} else {
		n2.Close()
	}
	w := testConfig(p, dir, "writer")
	w.Sync, w.Train, w.Mine = false, false, false
	if m, err := Open(w); !errors.Is(err, ErrLocked) {
		t.Errorf("writer while a reader has it: %v", err)
		if m != nil {
			m.Close()
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("a read-only open changed the data directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	bad := ro
	bad.Mine = true
	if _, err := Open(bad); !errors.Is(err, ErrConfig) {
		t.Errorf("read-only and mining: %v", err)
	}
}

// TestPendingPaymentSurvivesRestart: a payment sent without peers is in
// the mempool after a restart (history: pending), and leaves the wallet
// file once a block includes it.
func TestPendingPaymentSurvivesRestart(t *testing.T) {
	p := testParams(t)
	dir := initDir(t, p)
	cfg := testConfig(p, dir, "a")
	cfg.Train, cfg.Sync = false, false
	cfg.MaxHeight = p.CoinbaseMaturity + 1
	cfg.Version, cfg.Commit = "v9.9.9-test", "abc123"
	r := start(t, cfg)
	waitFor(t, 60*time.Second, "maturity", func() bool { return r.Chain().Tip().Height >= p.CoinbaseMaturity+1 })
	if s := r.Status(); s.Version != "v9.9.9-test" || s.Commit != "abc123" {
		t.Errorf("status version %q commit %q, want the Config's", s.Version, s.Commit)
	}
	to := chain.EncodeAddress(p.AddressPrefix, chain.Address{7})
	id, err := r.Send(to, 3*chain.AtomsPerCoin, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := r.stop(); err != nil {
		t.Fatal(err)
	}
	r.Close()

	cfg.MaxHeight = p.CoinbaseMaturity + 2
	r2 := start(t, cfg)
	if !r2.Mempool().Has(id) {
		t.Fatalf("payment %s not in the mempool after the restart", id)
	}
	h, err := r2.History()
	if err != nil || len(h) == 0 || !h[len(h)-1].Pending || h[len(h)-1].TxID != id {
		t.Errorf("history after the restart does not end with the pending payment: %+v %v", h, err)
	}
	waitFor(t, 60*time.Second, "the payment in a block", func() bool { return !r2.Mempool().Has(id) && r2.Chain().Tip().Height >= p.CoinbaseMaturity+2 })
	if u := r2.Wallet().Unconfirmed(); len(u) != 0 {
		t.Errorf("confirmed payment still recorded as unconfirmed")
	}
}

// TestNetWarnings: outside the devnet, a node without bootstrap peers
// says so at start, and an unreachable bootstrap peer is named in one
// warning.
func TestNetWarnings(t *testing.T) {
	p := chain.TestnetParams()
	dir := initDir(t, p)
	var buf logBuf
	cfg := testConfig(p, dir, "t")
	cfg.Train, cfg.Mine = false, false
	cfg.Log = zerolog.New(&buf)
	const dead = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWHM6m4WvYqTeEv5PbHgYX9cKSbGs26LRmsT2wvdGqk8ee"
	for _, c := range []struct {
		name      string
		bootstrap []string
		msg       string
		field     string
	}{
		{"none", []string{}, "", ""},
		{"unreachable", []string{dead}, "bootstrap peer unreachable", dead},
	} {
		buf.mu.Lock()
		buf.b.Reset()
		buf.mu.Unlock()
		cfg.Bootstrap = c.bootstrap
		r := start(t, cfg)
		if c.msg == "" {
			waitFor(t, 10*time.Second, "the no-bootstrap warning", func() bool {
				return strings.Contains(buf.String(), "no bootstrap peers configured")
			})
		} else {
			waitFor(t, 30*time.Second, c.msg, func() bool { return len(buf.lines(c.msg)) > 0 })
			if l := buf.lines(c.msg); len(l) != 1 || l[0]["peer"] != c.field || l[0]["level"] != "warn" {
				t.Errorf("%s: %v", c.name, l)
			}
		}
		r.stop()
		r.Close()
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBlockLogRate: blocks faster than one per blockLogEvery are logged
// at debug, at most one block line per blockLogEvery at info; the mining
// time has a unit in its name.
func TestBlockLogRate(t *testing.T) {
	p := testParams(t)
	var buf logBuf
	cfg := testConfig(p, initDir(t, p), "n")
	cfg.Train, cfg.Sync = false, false
	cfg.MaxHeight = 8
	cfg.Log = zerolog.New(&buf).Level(zerolog.DebugLevel)
	t0 := time.Now()
	r := start(t, cfg)
	waitFor(t, 60*time.Second, "height 8", func() bool { return r.Chain().Tip().Height >= 8 })
	r.stop()
	took := time.Since(t0)
	mined := buf.lines("mined block")
	info := 0
	for _, m := range mined {
		if m["level"] == "info" {
			info++
		}
		if _, ok := m["mine_ms"]; !ok {
			t.Errorf("mined block line without mine_ms: %v", m)
		}
	}
	if len(mined) < 8 || info > int(took/blockLogEvery)+1 {
		t.Errorf("%d mined-block lines, %d at info in %v; want at most one info line per %v", len(mined), info, took, blockLogEvery)
	}
}
