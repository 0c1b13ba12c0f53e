package chain_test

import (
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
)

// TestDeepReorg connects a 210-block branch carrying transactions and
// contributions, then a 211-block fork from the same point: the chain
// disconnects 210 blocks and connects 211, validating all of them against
// the rolled-back UTXO set and weights first. The result must equal a
// replay of the new branch from genesis: UTXO set hash, supply (= Σ
// subsidies at every height of the replay) and weights.
func TestDeepReorg(t *testing.T) {
	const n = 210
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	h, err := chaintest.NewHarness(g, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	mainBr := g.Branch("m", n, 100, 11)
	g.SetTip("genesis")
	fork := g.Branch("f", n+1, 300, 13)
	for i, b := range mainBr {
		if res, err := h.Chain.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
			t.Fatalf("main block %d: %+v %v", i+1, res, err)
		}
	}
	before, _, err := chaintest.UtxoSetHash(h.Chain)
	if err != nil {
		t.Fatal(err)
	}
	var last chain.ProcessResult
	for i, b := range fork {
		res, err := h.Chain.ProcessBlock(b, b.Header.Timestamp)
		if err != nil {
			t.Fatalf("fork block %d: %v", i+1, err)
		}
		if i < n-1 && res.MainChain {
			t.Fatalf("fork block %d on the main chain before it has more work", i+1)
		}
		last = res
	}
	if !last.MainChain || !last.Reorged {
		t.Fatalf("last fork block: %+v, want a reorg", last)
	}
	if tip := h.Chain.Tip(); tip.Hash != fork[n].Hash() || tip.Height != n+1 {
		t.Fatalf("tip %s at %d, want the fork's last block", tip.Hash, tip.Height)
	}
	after, all, err := chaintest.UtxoSetHash(h.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Fatal("UTXO set unchanged by the reorg")
	}
	if err := h.CheckAgainstReplay(); err != nil {
		t.Fatal(err)
	}
	txs := 0
	for _, b := range append(mainBr, fork...) {
		txs += len(b.Txs)
	}
	t.Logf("reorg: %d blocks disconnected, %d connected, %d txs in all, %d UTXOs, set hash %s", n, n+1, txs, len(all), after)
}
