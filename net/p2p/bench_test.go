package p2p

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// Benchmarks print RESULT lines (bench/results/net.txt records them):
//
//	go test -run '^$' -bench 'Propagation|Sync|WireBytes|Codec' -benchtime 1x ./net/p2p

func benchDevice() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.ReplaceAll(strings.TrimSpace(v), " ", "-")
			}
		}
	}
	return "unknown"
}

func benchCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func result(b *testing.B, metric string, v float64, unit string) {
	b.ReportMetric(v, unit)
	fmt.Printf("RESULT %s %.4g %s device=%s commit=%s date=%s\n", metric, v, unit, benchDevice(), benchCommit(), time.Now().UTC().Format("2006-01-02"))
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

// arrivals records when each node's tip became each block.
type arrivals struct {
	mu   sync.Mutex
	seen map[chain.Hash][]time.Time
}

func (a *arrivals) watch(tn *tnode) {
	tn.bc.Subscribe(func(ev chain.TipEvent) {
		now := time.Now()
		a.mu.Lock()
		a.seen[ev.Hash] = append(a.seen[ev.Hash], now)
		a.mu.Unlock()
	})
}

func (a *arrivals) count(h chain.Hash) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen[h])
}

// BenchmarkPropagation: eight nodes on loopback, each dialling three
// others (a ring plus chords: diameter 2–3 hops); every block is mined on
// a rotating node and carries two real sketched contributions (count
// sketch, top-k, int8, devnet model) that the other nodes fetch by hash
// from the peer that relayed the block, plus one transaction. Latency is
// from the miner's publish to each other node's tip change (the block
// fully validated, contributions applied).
func BenchmarkPropagation(b *testing.B) {
	const nodes, blocks = 8, 40
	p := chain.DevnetParams()
	bld := newBuilder(b, p)
	prefix := bld.run(int(p.CoinbaseMaturity) + 2)
	var chainBlocks []*chain.Block
	for i := range blocks {
		opts := []chaintest.Opt{chaintest.Contributions(2)}
		if i < 2 {
			opts = append(opts, chaintest.Txs(bld.g.PayTx(bld.g.CoinbaseOut(fmt.Sprintf("b%d", i+1), 0), 100)))
		}
		chainBlocks = append(chainBlocks, bld.next(opts...))
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ns := newTNodes(b, p, nodes)
		arr := &arrivals{seen: map[chain.Hash][]time.Time{}}
		for _, tn := range ns {
			tn.feed(b, prefix...)
			arr.watch(tn)
		}
		for i := range ns {
			for _, d := range []int{1, 3, 4} {
				if j := (i + d) % nodes; j > i || d == 4 && i < nodes/2 {
					connect(b, ns[i], ns[j])
				}
			}
		}
		waitMesh(b, ns)
		b.StartTimer()
		var lat []time.Duration
		for i, blk := range chainBlocks {
			miner := ns[i%nodes]
			for _, c := range blk.Contributions {
				miner.pool.put(c)
			}
			if err := miner.ad.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := miner.n.PublishBlock(context.Background(), blk); err != nil {
				b.Fatal(err)
			}
			waitFor(b, 30*time.Second, "block on every node", func() bool { return arr.count(blk.Hash()) == nodes })
			arr.mu.Lock()
			for _, at := range arr.seen[blk.Hash()] {
				if d := at.Sub(start); d > 0 {
					lat = append(lat, d)
				}
			}
			arr.mu.Unlock()
		}
		b.StopTimer()
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		result(b, "net.propagation.p50", float64(p50.Microseconds())/1000, "ms")
		result(b, "net.propagation.p99", float64(p99.Microseconds())/1000, "ms")
		for _, tn := range ns {
			tn.n.Close()
		}
	}
}

// BenchmarkSync: a fresh node syncs a chain from four peers; blocks/s
// and raw block MB/s (Block.SerializeSize), the syncing chain's full
// validation and replay (contributions applied) included.
//
//	chain=mixed: 1000 blocks, a transaction in every third, two real
//	             sketched contributions in every 25th;
//	chain=contrib: 300 blocks, each with two contributions (7.8 KB).
func BenchmarkSync(b *testing.B) {
	p := chain.DevnetParams()
	b.Run("chain=mixed", func(b *testing.B) {
		bld := newBuilder(b, p)
		runSync(b, p, buildChain(bld, p, 1000), "net.sync")
	})
	b.Run("chain=contrib", func(b *testing.B) {
		bld := newBuilder(b, p)
		runSync(b, p, bld.run(300, chaintest.Contributions(2)), "net.sync.contrib")
	})
}

func runSync(b *testing.B, p *chain.Params, blocks []*chain.Block, tag string) {
	raw := 0
	for _, blk := range blocks {
		raw += blk.SerializeSize()
	}
	bc := chainOf(b, p, blocks)
	var servers []*tnode
	for i := range 4 {
		servers = append(servers, newTNodeOn(b, bc, fmt.Sprintf("s%d", i)))
	}
	want := blocks[len(blocks)-1].Hash()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		late := newTNode(b, p, "late")
		b.StartTimer()
		start := time.Now()
		for _, s := range servers {
			connect(b, late, s)
		}
		waitFor(b, 5*time.Minute, "synced", func() bool { return late.tip() == want })
		el := time.Since(start)
		b.StopTimer()
		result(b, tag+".blocks_per_s", float64(len(blocks))/el.Seconds(), "blocks/s")
		result(b, tag+".mb_per_s", float64(raw)/el.Seconds()/1e6, "MB/s")
		late.n.Close()
	}
}

// BenchmarkWireBytes: two nodes; one mines blocks with two real sketched
// contributions, the other receives them. Bytes on the wire per block are
// everything the receiver's host read on its streams (compact block,
// contribution fetches, gossip control, status refreshes; libp2p's
// bandwidth reporter counts stream payload, not Noise/yamux/TCP framing)
// divided by the blocks; raw payload is Block.SerializeSize.
func BenchmarkWireBytes(b *testing.B) {
	const blocks = 30
	p := chain.DevnetParams()
	bld := newBuilder(b, p)
	var chainBlocks []*chain.Block
	raw := 0
	for range blocks {
		blk := bld.next(chaintest.Contributions(2))
		chainBlocks = append(chainBlocks, blk)
		raw += blk.SerializeSize()
	}
	contrib := 0
	zBody := 0
	for _, blk := range chainBlocks {
		contrib += blk.GradientSize()
		zBody += len(wire.DefaultCodec().Compress(nil, blk.Bytes()))
	}
	for range b.N {
		miner := newTNode(b, p, "miner")
		recv := newTNode(b, p, "recv")
		connect(b, recv, miner)
		waitMesh(b, []*tnode{miner, recv})
		// libp2p's bandwidth meters fold traffic into their totals on a
		// one-second sweep: let them settle before and after.
		time.Sleep(1500 * time.Millisecond)
		before := recv.n.Stats().BytesIn
		b.ResetTimer()
		for _, blk := range chainBlocks {
			for _, c := range blk.Contributions {
				miner.pool.put(c)
			}
			miner.mine(b, blk)
			waitFor(b, 10*time.Second, "block received", func() bool { return recv.tip() == blk.Hash() })
		}
		b.StopTimer()
		time.Sleep(1500 * time.Millisecond)
		wireBytes := float64(recv.n.Stats().BytesIn-before) / blocks
		result(b, "net.wire.bytes_per_block", wireBytes, "B")
		result(b, "net.wire.raw_bytes_per_block", float64(raw)/blocks, "B")
		result(b, "net.wire.ratio", wireBytes/(float64(raw)/blocks), "wire/raw")
		result(b, "net.wire.body_zstd_ratio", float64(zBody)/float64(raw), "zstd/raw")
		result(b, "net.wire.contribution_bytes_per_block", float64(contrib)/blocks, "B")
		miner.n.Close()
		recv.n.Close()
	}
}

// BenchmarkCodec measures the zstd levels on the payloads the network
// carries; the numbers chose wire.DefaultLevel.
func BenchmarkCodec(b *testing.B) {
	p := chain.DevnetParams()
	bld := newBuilder(b, p)
	var blocks []*chain.Block
	for i := range 12 {
		var opts []chaintest.Opt
		if i%2 == 1 {
			opts = append(opts, chaintest.Contributions(2))
		}
		blocks = append(blocks, bld.next(opts...))
	}
	var headers []chain.Header
	for _, blk := range blocks {
		headers = append(headers, blk.Header)
	}
	w := bld.g.Weights(bld.g.Tip())
	payloads := []struct {
		name string
		data []byte
	}{
		{"compact_block", wire.NewCompactBlock(blocks[0]).Bytes()},
		{"block_with_contributions", blocks[1].Bytes()},
		{"contribution", blocks[1].Contributions[0]},
		{"headers", wire.EncodeHeaders(headers)},
		{"weights", WeightsBytes(w)},
	}
	for _, lv := range []struct {
		name  string
		level wire.Level
	}{{"fastest", wire.LevelFastest}, {"default", wire.LevelDefault}, {"better", wire.LevelBetter}, {"best", wire.LevelBest}} {
		c, err := wire.NewCodec(lv.level)
		if err != nil {
			b.Fatal(err)
		}
		for _, pl := range payloads {
			z := c.Compress(nil, pl.data)
			// Timed by hand for 200 ms each (testing.Benchmark cannot
			// nest inside a running benchmark).
			rate := func(f func()) float64 {
				n, start := 0, time.Now()
				for time.Since(start) < 200*time.Millisecond {
					f()
					n++
				}
				return float64(len(pl.data)) * float64(n) / time.Since(start).Seconds() / 1e6
			}
			comp := rate(func() { z = c.Compress(z[:0], pl.data) })
			dec := rate(func() {
				if _, err := c.Decompress(z, len(pl.data)); err != nil {
					b.Fatal(err)
				}
			})
			tag := fmt.Sprintf("net.codec.%s.%s", lv.name, pl.name)
			date := time.Now().UTC().Format("2006-01-02")
			fmt.Printf("RESULT %s.ratio %.4f zstd/raw raw=%d device=%s commit=%s date=%s\n", tag, float64(len(z))/float64(len(pl.data)), len(pl.data), benchDevice(), benchCommit(), date)
			fmt.Printf("RESULT %s.compress %.1f MB/s device=%s commit=%s date=%s\n", tag, comp, benchDevice(), benchCommit(), date)
			fmt.Printf("RESULT %s.decompress %.1f MB/s device=%s commit=%s date=%s\n", tag, dec, benchDevice(), benchCommit(), date)
		}
	}
	for range b.N {
	}
}
