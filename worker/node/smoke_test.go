package node

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
)

func TestSmoke(t *testing.T) {
	if os.Getenv("SMOKE") == "" {
		t.Skip()
	}
	p := chain.DevnetParams()
	dir := t.TempDir()
	if err := Init(dir, p); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(p, dir)
	cfg.Sync = false
	cfg.Threads = 1
	cfg.Log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	start := time.Now()
	for n.Chain().Tip().Height < 10 && time.Since(start) < 60*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("height %d after %v; status %+v", n.Chain().Tip().Height, time.Since(start), n.Status())
	for _, lp := range n.LossHistory() {
		t.Logf("loss %d %.4f", lp.Height, lp.Loss)
	}
	cancel()
	s := time.Now()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("shutdown %v", time.Since(s))
}
