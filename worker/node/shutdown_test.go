package node

import (
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
)

// TestStopMidStep: Run stops within a few seconds even when one training
// step and one loss evaluation of the model take far longer (testnet's
// model on large batches; the mainnet model is bigger still): the round
// and the evaluator are cancelled between the model's operators.
func TestStopMidStep(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	p := chain.TestnetParams()
	dir := initDir(t, p)
	cfg := testConfig(p, dir, "big")
	cfg.Sync, cfg.Mine = false, false
	cfg.TrainBatch, cfg.TrainSeq, cfg.EvalBatches = 48, p.Training.Model.Context, 8
	r := start(t, cfg)
	waitFor(t, 60*time.Second, "a training step in progress", func() bool { return r.Status().Training })
	time.Sleep(300 * time.Millisecond) // inside the first step's graph
	if n := r.m.trainSteps.Load(); n != 0 {
		t.Logf("%d steps done before the cancel (the step is faster than expected here)", n)
	}
	err, took := r.stop()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("stopped %v after the cancel (steps done: %d)", took, r.m.trainSteps.Load())
	if took > 5*time.Second {
		t.Errorf("Run took %v to stop mid-step, want a few seconds at most", took)
	}
}
