package chain_test

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

// Benchmarks on devnet parameters (its block size fits 1,000 txs) with the
// bbolt store, fsync on. Every transaction is a real signed 1-input
// payment; outputs to spend come from coinbases fanned out by earlier
// blocks. Besides ns/op they report wall ms per block and CPU ms per block
// (getrusage, all threads), because the machine is shared.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fanout builds blocks on g that end with at least width mature,
// unspent non-coinbase outputs, which it returns.
func fanout(g *chaintest.Generator, width int) ([]*chain.Block, []chaintest.SpendableOut) {
	p := g.Params
	outsPer := 1 + p.MaxContributions
	var blocks []*chain.Block
	var outs []chaintest.SpendableOut
	n := 0
	for len(outs)+n*outsPer < (width+3)/4 || n < int(p.CoinbaseMaturity) {
		name := fmt.Sprintf("cb%d", n)
		blocks = append(blocks, g.NextBlock(name, nil, chaintest.CoinbaseOutputs(outsPer)))
		n++
	}
	for i := 0; i < int(p.CoinbaseMaturity); i++ {
		blocks = append(blocks, g.NextBlock(fmt.Sprintf("mat%d", i), nil))
	}
	for i := 0; i < n; i++ {
		for k := 0; k < outsPer; k++ {
			outs = append(outs, g.CoinbaseOut(fmt.Sprintf("cb%d", i), k))
		}
	}
	for level := 0; len(outs) < width; level++ {
		var txs []*chain.Tx
		var next []chaintest.SpendableOut
		for _, o := range outs {
			half := o.Value / 2
			tx := g.SignedTx([]chaintest.SpendableOut{o}, []chain.TxOut{{Value: half, Address: g.Addr}, {Value: o.Value - half - 1000, Address: g.Addr}})
			txs = append(txs, tx)
			next = append(next, g.TxOut(tx, 0), g.TxOut(tx, 1))
		}
		blocks = append(blocks, g.NextBlock(fmt.Sprintf("fan%d", level), nil, chaintest.Txs(txs...)))
		outs = next
	}
	return blocks, outs[:width]
}

func openBench(b *testing.B, p *chain.Params, blocks []*chain.Block) (*chain.BlockChain, *store.Store) {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "chain.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: p, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	for _, blk := range blocks {
		if _, err := bc.ProcessBlock(blk, blk.Header.Timestamp); err != nil {
			b.Fatal(err)
		}
	}
	return bc, st
}

func report(b *testing.B, perOp float64, wall, cpu time.Duration, unit string) {
	b.ReportMetric(float64(wall.Microseconds())/1000/perOp, "ms/"+unit)
	b.ReportMetric(float64(cpu.Microseconds())/1000/perOp, "cpu-ms/"+unit)
}

// BenchmarkValidateBlock measures the full validation of a block of 1,000
// payments (sanity, tx root, UTXO lookups in bbolt, amounts, 1,000 ed25519
// verifications on all cores, state root) without committing it:
// BlockChain.CheckBlockTemplate, which is ProcessBlock minus the proof of
// work hash and the write.
func BenchmarkValidateBlock(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			g, err := chaintest.NewGenerator(chain.DevnetParams())
			if err != nil {
				b.Fatal(err)
			}
			blocks, outs := fanout(g, n)
			bc, st := openBench(b, g.Params, blocks)
			defer st.Close()
			txs := make([]*chain.Tx, n)
			for i, o := range outs {
				txs[i] = g.PayTx(o, 500)
			}
			blk := g.NextBlock("big", nil, chaintest.Txs(txs...))
			b.SetBytes(int64(blk.SerializeSize()))
			b.ResetTimer()
			c0, t0 := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				if err := bc.CheckBlockTemplate(blk, blk.Header.Timestamp); err != nil {
					b.Fatal(err)
				}
			}
			report(b, float64(b.N), time.Since(t0), cpuTime()-c0, "block")
		})
	}
}

// chainOfBlocks builds count blocks of width payments each, every block
// spending the outputs of the previous one.
func chainOfBlocks(g *chaintest.Generator, width, count int) (setup, blocks []*chain.Block) {
	setup, outs := fanout(g, width)
	for i := 0; i < count; i++ {
		txs := make([]*chain.Tx, width)
		for k, o := range outs {
			txs[k] = g.PayTx(o, 200)
			outs[k] = g.TxOut(txs[k], 0)
		}
		blocks = append(blocks, g.NextBlock(fmt.Sprintf("run%d", i), nil, chaintest.Txs(txs...)))
	}
	return setup, blocks
}

// BenchmarkConnectBlock measures ProcessBlock of blocks with 100 payments
// each that extend the tip: validation, then the bbolt commit (one
// transaction with the UTXO delta, undo record and tip, fsynced).
func BenchmarkConnectBlock(b *testing.B) {
	const width, count = 100, 60
	g, err := chaintest.NewGenerator(chain.DevnetParams())
	if err != nil {
		b.Fatal(err)
	}
	setup, blocks := chainOfBlocks(g, width, count)
	b.ResetTimer()
	var wall, cpu time.Duration
	for done := 0; done < b.N; {
		b.StopTimer()
		bc, st := openBench(b, g.Params, setup)
		b.StartTimer()
		c0, t0 := cpuTime(), time.Now()
		for _, blk := range blocks {
			if done == b.N {
				break
			}
			if _, err := bc.ProcessBlock(blk, blk.Header.Timestamp); err != nil {
				b.Fatal(err)
			}
			done++
		}
		wall += time.Since(t0)
		cpu += cpuTime() - c0
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	report(b, float64(b.N), wall, cpu, "block")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "blocks/s")
}

// BenchmarkUtxoApply measures applying blocks of 100 payments to the UTXO
// set without validating them: a view over the bbolt store fetches the
// inputs (one read transaction), spends them and adds the outputs, and the
// delta and undo record are committed (one bbolt write transaction per
// block, fsynced).
func BenchmarkUtxoApply(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("txs=100/fsync=%v", sync), func(b *testing.B) {
			const width, count = 100, 60
			g, err := chaintest.NewGenerator(chain.DevnetParams())
			if err != nil {
				b.Fatal(err)
			}
			setup, blocks := chainOfBlocks(g, width, count)
			b.ResetTimer()
			var wall, cpu time.Duration
			for done := 0; done < b.N; {
				b.StopTimer()
				st, err := store.Open(filepath.Join(b.TempDir(), "u.db"), &store.Options{NoSync: !sync})
				if err != nil {
					b.Fatal(err)
				}
				bc, err := chain.New(chain.Config{Params: g.Params, Store: st})
				if err != nil {
					b.Fatal(err)
				}
				for _, blk := range setup {
					if _, err := bc.ProcessBlock(blk, blk.Header.Timestamp); err != nil {
						b.Fatal(err)
					}
				}
				supply := bc.Tip().Supply
				for _, blk := range blocks {
					if err := st.PutBlock(blk, chain.StatusDataStored); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				c0, t0 := cpuTime(), time.Now()
				for _, blk := range blocks {
					if done == b.N {
						break
					}
					view := chain.NewUtxoView(st)
					var ops []chain.OutPoint
					for _, tx := range blk.Txs[1:] {
						for _, in := range tx.Inputs {
							ops = append(ops, in.PrevOut)
						}
					}
					if err := view.Prefetch(ops); err != nil {
						b.Fatal(err)
					}
					var undo []chain.Utxo
					for i, tx := range blk.Txs {
						if i > 0 {
							for _, in := range tx.Inputs {
								e, ok, err := view.Spend(in.PrevOut)
								if err != nil || !ok {
									b.Fatalf("spend %s: %v %v", in.PrevOut, ok, err)
								}
								undo = append(undo, chain.Utxo{OutPoint: in.PrevOut, Entry: e})
							}
						}
						id := tx.TxID()
						for k, o := range tx.Outputs {
							view.Add(chain.OutPoint{TxID: id, Index: uint32(k)}, chain.UtxoEntry{Value: o.Value, Address: o.Address, Height: blk.Header.Height, Coinbase: i == 0})
						}
					}
					d := view.TakeDelta()
					add, rem := d.SupplyChange()
					supply = supply + add - rem
					u := &chain.StateUpdate{Block: blk.Hash(), Connect: true, Status: chain.StatusDataStored | chain.StatusValid,
						State: chain.ChainState{Tip: blk.Hash(), Height: blk.Header.Height, Supply: supply}, Delta: d, Undo: chain.EncodeUndo(undo)}
					if err := st.Commit(u); err != nil {
						b.Fatal(err)
					}
					done++
				}
				wall += time.Since(t0)
				cpu += cpuTime() - c0
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
			report(b, float64(b.N), wall, cpu, "block")
			b.ReportMetric(float64(b.N)/wall.Seconds(), "blocks/s")
		})
	}
}
