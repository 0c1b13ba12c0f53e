package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
)

// TestDevnetSmall: 3 nodes to height 6 agree on tip and state root, every
// node has mined coins in the sum the chain issued, and the loss falls.
func TestDevnetSmall(t *testing.T) {
	p := chain.DevnetParams()
	p.Training.LocalSteps = 2               // fast under -race
	if err := p.InitGenesis(); err != nil { // the genesis commits to the rules
		t.Fatal(err)
	}
	var prog bytes.Buffer
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Run(ctx, Options{Nodes: 3, Blocks: 6, Params: p, DataDir: dir, Progress: &prog})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.LossLast == nil {
		t.Fatalf("no final loss: %+v", s)
	}
	t.Logf("%.1fs, loss %.4f -> %.4f", s.ElapsedSeconds, s.LossFirst, *s.LossLast)
	if !s.Agree() {
		t.Errorf("nodes disagree: %+v", s.Nodes)
	}
	if len(s.Nodes) != 3 || s.Blocks != 6 || s.Network != "devnet" {
		t.Errorf("summary %+v", s)
	}
	var total uint64
	for i, n := range s.Nodes {
		if n.Height < 6 || n.ID == "" {
			t.Errorf("node %d: %+v", i, n)
		}
		if n.Balance == 0 { // training turns rotate: every node mines
			t.Errorf("node %d mined nothing in %d blocks", i, n.Height)
		}
		total += n.Balance
	}
	if want := p.SupplyAt(s.Nodes[0].Height); total != want {
		t.Errorf("balances sum to %d, the chain issued %d", total, want)
	}
	if math.IsNaN(s.LossFirst) || math.IsNaN(*s.LossLast) || !(*s.LossLast < s.LossFirst) {
		t.Errorf("loss %v -> %v: not falling", s.LossFirst, *s.LossLast)
	}
	if s.DataDir != dir {
		t.Errorf("summary datadir %q, want %q", s.DataDir, dir)
	}
	// The last progress line shows every node at the target (or above it,
	// after a tie at the last height).
	lines := strings.Split(strings.TrimSpace(prog.String()), "\n")
	var lo, target int
	if _, err := fmt.Sscanf(lines[len(lines)-1], "height %d/%d", &lo, &target); err != nil || lo < 6 || target != 6 {
		t.Errorf("progress does not end at the target (%v):\n%s", err, prog.String())
	}
	// The data directories were kept (DataDir given) and reopen.
	for _, name := range []string{"node0", "node1", "node2"} {
		if _, err := os.Stat(dir + "/" + name + "/node.json"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSummaryJSON pins the JSON field names the CLI prints.
func TestSummaryJSON(t *testing.T) {
	s := Summary{Network: "devnet", Blocks: 2, Nodes: []NodeSummary{{ID: "x"}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"network", "blocks", "elapsed_seconds", "loss_first", "loss_last", "nodes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary JSON lacks %q: %s", k, b)
		}
	}
	n := m["nodes"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "height", "tip", "state_root", "balance"} {
		if _, ok := n[k]; !ok {
			t.Errorf("node JSON lacks %q: %s", k, b)
		}
	}
	if len(n) != 5 || len(m) != 6 {
		t.Errorf("extra fields: %s", b)
	}
	if v, ok := m["loss_last"]; !ok || v != nil {
		t.Errorf("loss_last of a run that did not measure it: %v, want null", v)
	}
	l := 1.5
	s.LossLast, s.DataDir, s.Error = &l, "/tmp/x", "boom"
	b, _ = json.Marshal(s)
	m = nil
	json.Unmarshal(b, &m)
	if m["loss_last"] != 1.5 || m["datadir"] != "/tmp/x" || m["error"] != "boom" {
		t.Errorf("summary JSON with loss, datadir and error: %s", b)
	}
}

// TestRunFailures: an interrupted run reports no final loss (null, not
// 0); a node that fails names itself once.
func TestRunFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := Run(ctx, Options{Nodes: 1, Blocks: 3, DataDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) || s.LossLast != nil {
		t.Errorf("interrupted run: loss_last %v, err %v", s.LossLast, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/node0", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Nodes: 1, Blocks: 3, DataDir: dir})
	if !errors.Is(err, ErrNodeFailed) || !strings.HasPrefix(err.Error(), "devnet: node 0: ") || strings.Count(err.Error(), "devnet") != 1 || strings.Contains(err.Error(), "node 0: node:") {
		t.Errorf("node failure: %v", err)
	}
}

func TestSummaryAgree(t *testing.T) {
	a, b := chain.Hash{1}, chain.Hash{2}
	for _, c := range []struct {
		name  string
		nodes []NodeSummary
		want  bool
	}{
		{"none", nil, false},
		{"one", []NodeSummary{{Tip: a, StateRoot: b}}, true},
		{"same", []NodeSummary{{Tip: a, StateRoot: b}, {Tip: a, StateRoot: b}}, true},
		{"other tip", []NodeSummary{{Tip: a, StateRoot: b}, {Tip: b, StateRoot: b}}, false},
		{"other root", []NodeSummary{{Tip: a, StateRoot: b}, {Tip: a, StateRoot: a}}, false},
	} {
		if got := (Summary{Nodes: c.nodes}).Agree(); got != c.want {
			t.Errorf("%s: Agree = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRunBadOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"too many nodes", Options{Nodes: MaxNodes + 1}},
		{"negative nodes", Options{Nodes: -1}},
		{"too many blocks", Options{Blocks: MaxBlocks + 1}},
		{"negative threads", Options{Threads: -2}},
	} {
		if _, err := Run(context.Background(), c.o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", c.name, err)
		}
	}
}
