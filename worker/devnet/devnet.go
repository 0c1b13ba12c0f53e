package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

// Errors of this package (errors.Is).
var (
	// ErrOptions: Options out of range.
	ErrOptions = errors.New("devnet: bad options")
	// ErrNodeFailed: a node failed to start or stopped with an error.
	ErrNodeFailed = errors.New("devnet: node failed")
)

// Limits of Options.
const (
	MaxNodes  = 64
	MaxBlocks = 1_000_000
)

// Options configure a devnet run.
type Options struct {
	// Nodes is the number of full nodes (default 3), Blocks the height
	// every node must reach (default 30).
	Nodes  int
	Blocks uint64
	// DataDir holds one data directory per node (DataDir/node0, ...).
	// "" uses a temporary directory, removed at the end unless Keep. An
	// existing node directory of the devnet is reused (its chain goes on).
	DataDir string
	Keep    bool
	// Params are the network (nil: chain.DevnetParams()).
	Params *chain.Params
	// Threads is each node's CPU mining thread count (default 1).
	Threads int
	// Progress, if set, receives live progress: one updating line on a
	// terminal, else a line per new height.
	Progress io.Writer
	// Log receives the nodes' logs (each with a "node" field).
	Log zerolog.Logger
}

// NodeSummary is one node at the end of a run.
type NodeSummary struct {
	ID        string     `json:"id"` // libp2p peer id
	Height    uint64     `json:"height"`
	Tip       chain.Hash `json:"tip"`
	StateRoot chain.Hash `json:"state_root"`
	Balance   uint64     `json:"balance"` // atoms the node's wallet holds, spendable and immature
}

// Summary is the result of a run. LossFirst is the validation loss of the
// genesis model, LossLast of the final tip's model, on the same fixed
// validation batches of the built-in corpus (nil when the run ended
// before it was measured: interrupted, or a node failed). DataDir is the
// parent of the nodes' data directories when they are kept (Options.Keep
// or Options.DataDir). Error says why a run failed (the CLI fills it).
type Summary struct {
	Network        string        `json:"network"`
	Blocks         uint64        `json:"blocks"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	LossFirst      float64       `json:"loss_first"`
	LossLast       *float64      `json:"loss_last"`
	Nodes          []NodeSummary `json:"nodes"`
	DataDir        string        `json:"datadir,omitempty"`
	Error          string        `json:"error,omitempty"`
}

// nodeError is a node's failure: "devnet: node 2: <the node's error>".
type nodeError struct {
	i   int
	err error
}

func (e *nodeError) Error() string {
	return fmt.Sprintf("devnet: node %d: %s", e.i, strings.TrimPrefix(e.err.Error(), "node: "))
}

func (e *nodeError) Unwrap() []error { return []error{ErrNodeFailed, e.err} }

func nodeErr(i int, err error) error { return &nodeError{i: i, err: err} }

// Agree reports whether every node ends on the same tip and state root.
func (s Summary) Agree() bool {
	if len(s.Nodes) == 0 {
		return false
	}
	for _, n := range s.Nodes[1:] {
		if n.Tip != s.Nodes[0].Tip || n.StateRoot != s.Nodes[0].StateRoot {
			return false
		}
	}
	return true
}

// Run starts opts.Nodes full nodes in this process, each a node.Node with
// its own data directory and a libp2p host on 127.0.0.1 (random port),
// all connected to each other, each training the network's model on its
// own shard of the built-in corpus and mining, until every node is at
// height ≥ opts.Blocks on the same tip; then it stops them cleanly and
// returns the summary. If two blocks at the last height tie (nodes
// disagree), mining goes on one block at a time until they agree. ctx
// cancels the run (the summary then holds the state at that point and the
// error is ctx's).
func Run(ctx context.Context, opts Options) (Summary, error) {
	start := time.Now()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Blocks == 0 {
		opts.Blocks = 30
	}
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	p := opts.Params
	if p == nil {
		p = chain.DevnetParams()
	}
	sum := Summary{Network: p.Name, Blocks: opts.Blocks}
	switch {
	case opts.Nodes < 1 || opts.Nodes > MaxNodes:
		return sum, fmt.Errorf("%w: %d nodes outside [1, %d]", ErrOptions, opts.Nodes, MaxNodes)
	case opts.Blocks > MaxBlocks:
		return sum, fmt.Errorf("%w: %d blocks above %d", ErrOptions, opts.Blocks, MaxBlocks)
	case opts.Threads < 0:
		return sum, fmt.Errorf("%w: %d threads", ErrOptions, opts.Threads)
	}
	root := opts.DataDir
	if root == "" {
		d, err := os.MkdirTemp("", "gradientcoin-devnet-")
		if err != nil {
			return sum, fmt.Errorf("devnet: temporary directory: %w", err)
		}
		root = d
		if !opts.Keep {
			defer os.RemoveAll(root)
		}
	}
	if opts.DataDir != "" || opts.Keep {
		sum.DataDir = root
	}

	// The nodes share this process's CPUs: their training rounds take turns
	// (all but one CPU), leaving a CPU for block propagation and
	// validation. Without the gate, on 2 cores every node trained at once,
	// all finished together and about every other block tied (a wasted
	// block and a reorg), as propagation waited behind the training.
	gate := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))
	nodes := make([]*node.Node, 0, opts.Nodes)
	closeAll := func() {
		for _, n := range nodes {
			n.Close()
		}
	}
	for i := 0; i < opts.Nodes; i++ {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		if _, _, err := node.DataDirNetwork(dir); err != nil {
			if !errors.Is(err, node.ErrNoDataDir) && !errors.Is(err, node.ErrNotInitialized) {
				closeAll()
				return sum, nodeErr(i, err)
			}
			if err := node.Init(dir, p); err != nil {
				closeAll()
				return sum, nodeErr(i, err)
			}
		}
		cfg := node.DefaultConfig(p, dir)
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		cfg.Bootstrap = []string{}
		cfg.NoDiscovery = true
		cfg.LocalNet = true
		cfg.Threads = opts.Threads
		cfg.Shard = node.ShardSpec{Index: i, Count: opts.Nodes}
		cfg.MaxHeight = opts.Blocks
		cfg.TrainGate = gate
		cfg.Log = opts.Log.With().Str("node", fmt.Sprintf("n%d", i)).Logger()
		n, err := node.Open(cfg)
		if err != nil {
			closeAll()
			return sum, nodeErr(i, err)
		}
		nodes = append(nodes, n)
	}
	// A full mesh: every node dials every earlier one.
	for i, n := range nodes {
		for _, m := range nodes[:i] {
			addrs := m.Addrs()
			if len(addrs) == 0 {
				closeAll()
				return sum, nodeErr(indexOf(nodes, m), errors.New("no listen address"))
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := n.Connect(cctx, addrs[0])
			cancel()
			if err != nil {
				closeAll()
				return sum, nodeErr(i, fmt.Errorf("connecting to node %d: %w", indexOf(nodes, m), err))
			}
		}
	}
	w0, _, err := nodes[0].WeightsAt(0)
	if err == nil {
		sum.LossFirst, err = nodes[0].EvalLoss(w0)
	}
	if err != nil {
		closeAll()
		return sum, fmt.Errorf("devnet: genesis loss: %w", err)
	}

	rctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	runErrs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runErrs[i] = n.Run(rctx)
		}()
	}
	stopAll := func() error {
		stop()
		wg.Wait()
		var errs []error
		for i, e := range runErrs {
			if e != nil {
				errs = append(errs, nodeErr(i, e))
			}
		}
		return errors.Join(errs...)
	}

	pr := newProgress(opts.Progress, opts.Blocks)
	target := opts.Blocks
	var disagreeSince time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sum.Nodes = summarize(nodes)
			sum.ElapsedSeconds = time.Since(start).Seconds()
			pr.done()
			return sum, errors.Join(ctx.Err(), stopAll())
		case <-tick.C:
		}
		heights := make([]uint64, len(nodes))
		tips := make([]chain.Hash, len(nodes))
		lo := uint64(math.MaxUint64)
		for i, n := range nodes {
			t := n.Chain().Tip()
			heights[i], tips[i] = t.Height, t.Hash
			lo = min(lo, t.Height)
		}
		var loss *float64
		if lp, ok := nodes[0].LatestLoss(); ok {
			loss = &lp.Loss
		}
		pr.update(heights, loss, time.Since(start))
		if lo < target {
			disagreeSince = time.Time{}
			continue
		}
		same := true
		for _, t := range tips[1:] {
			same = same && t == tips[0]
		}
		if same && heights[0] >= opts.Blocks {
			break
		}
		// Every node is at the target but they disagree (a tie at the
		// last height): after a grace period for propagation, let them
		// mine one more block.
		if disagreeSince.IsZero() {
			disagreeSince = time.Now()
		} else if time.Since(disagreeSince) > 2*time.Second {
			target++
			for _, n := range nodes {
				n.SetMaxHeight(target)
			}
			disagreeSince = time.Time{}
		}
	}
	pr.done()
	sum.Nodes = summarize(nodes)
	tipW, err := nodes[0].Chain().WeightsAt(sum.Nodes[0].Tip)
	if err == nil {
		var l float64
		if l, err = nodes[0].EvalLoss(tipW); err == nil {
			sum.LossLast = &l
		}
	}
	serr := stopAll()
	sum.ElapsedSeconds = time.Since(start).Seconds()
	if err != nil {
		return sum, errors.Join(fmt.Errorf("devnet: final loss: %w", err), serr)
	}
	return sum, serr
}

func indexOf(ns []*node.Node, n *node.Node) int {
	for i, m := range ns {
		if m == n {
			return i
		}
	}
	return -1
}

func summarize(nodes []*node.Node) []NodeSummary {
	out := make([]NodeSummary, len(nodes))
	for i, n := range nodes {
		t := n.Chain().Tip()
		sp, im, _ := n.Balance()
		out[i] = NodeSummary{ID: n.PeerID(), Height: t.Height, Tip: t.Hash, StateRoot: t.Header.StateRoot, Balance: sp + im}
	}
	return out
}

// progress writes live progress: an updating line on a terminal, else a
// line per new lowest height.
type progress struct {
	w      io.Writer
	tty    bool
	target uint64
	last   uint64
	lastS  string
	any    bool
}

func newProgress(w io.Writer, target uint64) *progress {
	p := &progress{w: w, target: target}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(heights []uint64, loss *float64, elapsed time.Duration) {
	if p.w == nil {
		return
	}
	lo := heights[0]
	for _, h := range heights {
		lo = min(lo, h)
	}
	hs := make([]string, len(heights))
	for i, h := range heights {
		hs[i] = fmt.Sprint(h)
	}
	l := "-"
	if loss != nil {
		l = fmt.Sprintf("%.4f", *loss)
	}
	line := fmt.Sprintf("height %d/%d  nodes [%s]  loss %s  %.0fs", lo, p.target, strings.Join(hs, " "), l, elapsed.Seconds())
	if p.tty {
		if line != p.lastS {
			fmt.Fprintf(p.w, "\r\033[K%s", line)
			p.lastS, p.any = line, true
		}
		return
	}
	if lo > p.last || !p.any {
		fmt.Fprintln(p.w, line)
		p.last, p.any = lo, true
	}
}

func (p *progress) done() {
	if p.w != nil && p.tty && p.any {
		fmt.Fprintln(p.w)
	}
}
