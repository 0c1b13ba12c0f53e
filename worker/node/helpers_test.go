package node

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
)

// testParams are the devnet's with 2 local steps (the tests run under
// -race on 2 cores). The training rules are not part of the genesis, so
// the genesis hash is the devnet's.
func testParams(t testing.TB) *chain.Params {
	t.Helper()
	p := chain.DevnetParams()
	p.Training.LocalSteps = 2
	if err := p.InitGenesis(); err != nil { // the genesis commits to the rules
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// testLog discards unless GC_NODE_LOG is set.
func testLog(name string) zerolog.Logger {
	if os.Getenv("GC_NODE_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Str("node", name).Logger()
}

func initDir(t testing.TB, p *chain.Params) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := Init(dir, p); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return dir
}

// testConfig: loopback networking, one mining thread, quick batches.
func testConfig(p *chain.Params, dir, name string) Config {
	cfg := DefaultConfig(p, dir)
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Bootstrap = []string{}
	cfg.NoDiscovery = true
	cfg.LocalNet = true
	cfg.Threads = 1
	cfg.TrainBatch, cfg.TrainSeq, cfg.EvalBatches = 8, 16, 2
	cfg.Log = testLog(name)
	return cfg
}

// running is a node whose Run is active; stop cancels it and returns
// Run's error and how long it took.
type running struct {
	*Node
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg Config) *running {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open %s: %v", cfg.DataDir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Node: n, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) stop() (error, time.Duration) {
	t0 := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // keep it for a second stop
		return err, time.Since(t0)
	case <-time.After(30 * time.Second):
		return context.DeadlineExceeded, time.Since(t0)
	}
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snapshot lists every path under dir with its size, mode and mtime (""
// if dir does not exist).
func snapshot(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, path+" "+st.Mode().String()+" "+st.ModTime().String()+" "+strconv.FormatInt(st.Size(), 10))
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
