package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/chain/store"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
	"github.com/gradientcoin/gradientcoin/net/p2p"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/miner"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// Params are the network's parameters (required) and DataDir an
	// initialised data directory of that network (see Init).
	Params  *chain.Params
	DataDir string

	// Listen are the p2p multiaddrs to listen on; nil: the network's
	// default port on all interfaces (p2p.ConfigForParams). Devnets and
	// tests use /ip4/127.0.0.1/tcp/0.
	Listen []string
	// Bootstrap peers (multiaddrs with /p2p/<id>); nil: the network's.
	Bootstrap []string
	// NoDiscovery turns mDNS and the DHT off (bootstrap peers only).
	NoDiscovery bool
	// LocalNet starts from p2p.TestConfig (loopback, short intervals and
	// timeouts, relaxed rate limits) instead of the production defaults:
	// for devnets in one process and tests.
	LocalNet bool
	// P2P, if set, adjusts the p2p configuration last.
	P2P func(*p2p.Config)

	// Sync runs the p2p node (without it the node is offline: no peers,
	// nothing relayed). Train takes local steps and puts a contribution
	// in every block template. Mine searches proof of work on templates
	// (without Train: empty-gradient blocks, the state root unchanged).
	Sync, Train, Mine bool
	// Pooled also includes, up to MaxContributions, other workers'
	// contributions for the same parent heard over gossip (the paper's
	// mode, the default, includes only the miner's own). A template policy:
	// validators accept both.
	Pooled bool

	// TrainGate, if set, is a semaphore shared by nodes in one process:
	// a round's local steps run while holding one of its slots, so rounds
	// take turns on a shared CPU instead of starving the nodes' networking
	// (devnet). A node keeps its slot when a new tip interrupts its steps
	// and gives it up when its contribution is ready, so turns rotate.
	// nil: no gate.
	TrainGate chan struct{}

	// Threads is the CPU miner's thread count (0: one per CPU).
	Threads int
	// UseGPU (gccuda build): mine with the GPUs, de-sketch with the GPU
	// backend when this node applies its own templates, and run the
	// model's attention softmax on the GPU. The default build refuses it
	// (gpu.ErrNoCUDA).
	UseGPU bool

	// Shard selects the training pages explicitly: pages p with
	// p mod Count == Index (devnets give every node its own). Count 0: the
	// shard data.ShardIndex(contribution key, DefaultShards).
	Shard ShardSpec

	// DataPath is the training text: "" the built-in synthetic corpus,
	// else a text file or folder (worker/data.Load).
	DataPath string
	// Optimizer is the local optimizer; the zero value means AdamW with
	// the network's LocalLR, weight decay 0.1 and clipping at norm 1.
	Optimizer train.OptConfig
	// TrainBatch and TrainSeq shape the local training batches (0: the
	// model's context, and as many sequences as make about 512 tokens, at
	// least 4: 16×32 on the devnet). EvalBatches is the number of fixed
	// validation batches (16 sequences of TrainSeq bytes) of the loss (0: 4).
	TrainBatch, TrainSeq, EvalBatches int

	// MaxHeight > 0 stops mining once the tip reaches that height (the
	// node keeps syncing and serving); devnets use it (see SetMaxHeight).
	MaxHeight uint64

	// ProgressInterval is the period of the progress log line (0: 10 s).
	ProgressInterval time.Duration
	// ReadOnly opens the data directory only to read it (the commands that
	// query a stopped node): the store and the wallet file read-only, the
	// LOCK file shared and not written, no weight checkpoint written; Sync,
	// Train and Mine must be off, and what would write (NewAddress, Send)
	// fails.
	ReadOnly bool

	// Version and Commit are the software's (the binary's build info),
	// reported by Status; "" reports "devel".
	Version, Commit string

	// Log receives the node's logs; the zero Logger discards.
	Log zerolog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// ShardSpec is a shard of the training stream's pages.
type ShardSpec struct{ Index, Count int }

// DefaultConfig returns a Config for network p and data directory dir
// with syncing, training and mining on, every CPU mining, the built-in
// corpus and the network's default listen address.
func DefaultConfig(p *chain.Params, dir string) Config {
	return Config{Params: p, DataDir: dir, Sync: true, Train: true, Mine: true}
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Node is a full GradientCoin peer: chain, mempool, wallet, p2p node and
// the trainer-miner loop. Its query methods are safe for concurrent use
// from any goroutine, before, during and after Run.
type Node struct {
	cfg    Config
	p      *chain.Params
	log    zerolog.Logger
	layout Layout

	lock *dirLock
	st   *store.Store
	bc   *chain.BlockChain
	mp   *mempool.Pool
	wal  *wallet.Wallet
	net  *p2p.Node
	pool *contribPool

	corpus *data.Corpus
	key    ed25519.PrivateKey // contribution key (derived from the wallet seed)
	tr     *trainer           // nil unless Train
	ev     *evaluator
	dev    *device // solver, backend, description
	mnr    *miner.Miner

	started time.Time
	unsub   []func()

	tipCh chan struct{} // a new tip (buffered 1)

	roundMu     sync.Mutex
	roundCancel context.CancelFunc
	roundParent chain.Hash

	histMu sync.Mutex
	hist   historyCache

	mining, training atomic.Bool
	maxHeight        atomic.Uint64
	lastTrained      atomic.Pointer[chain.Hash] // without Mine: the tip last trained on
	turn             turn                       // TrainGate slot (loop goroutine only)
	m                counters
	lastBlockLog     atomic.Int64 // unix ns of the last block logged at info

	runMu     sync.Mutex
	running   bool
	runCancel context.CancelFunc
	done      chan struct{} // closed when Run returns

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// Open opens the node in an initialised data directory: it takes the
// directory's lock, opens the store and the chain (rebuilding the weights
// from checkpoints and replay), the wallet and the mempool, loads the
// training corpus and, with Sync, starts the p2p node. Mining and training
// start with Run. Open fails without writing anything when the directory
// is missing (ErrNoDataDir), uninitialised (ErrNotInitialized), of another
// network (ErrWrongNetwork) or in use (ErrLocked).
func Open(cfg Config) (*Node, error) {
	p := cfg.Params
	switch {
	case p == nil:
		return nil, errorf(ErrConfig, "no network parameters")
	case cfg.DataDir == "":
		return nil, errorf(ErrConfig, "empty data directory path")
	case cfg.Threads < 0 || cfg.Threads > 1024:
		return nil, errorf(ErrConfig, "threads %d outside [0, 1024]", cfg.Threads)
	case cfg.TrainBatch < 0 || cfg.TrainSeq < 0 || cfg.EvalBatches < 0:
		return nil, errorf(ErrConfig, "negative batch shape (train %d×%d, eval batches %d)", cfg.TrainBatch, cfg.TrainSeq, cfg.EvalBatches)
	case cfg.TrainSeq > p.Training.Model.Context:
		return nil, errorf(ErrConfig, "training sequence %d longer than the model's context %d", cfg.TrainSeq, p.Training.Model.Context)
	case cfg.ReadOnly && (cfg.Sync || cfg.Train || cfg.Mine):
		return nil, errorf(ErrConfig, "a read-only node cannot sync, train or mine")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: network %s: %w", ErrConfig, p.Name, err)
	}
	if p.Training.Model.Kind != state.ModelGPT {
		return nil, errorf(ErrConfig, "network %s trains a %s model; the node trains GPTs only", p.Name, p.Training.Model.Kind)
	}
	l, err := checkDataDir(cfg.DataDir, p)
	if err != nil {
		return nil, err
	}
	var corpus *data.Corpus
	if cfg.DataPath == "" {
		corpus, err = data.Synthetic(data.SyntheticConfig{})
	} else {
		corpus, err = data.Load(cfg.DataPath)
	}
	if err != nil {
		return nil, fmt.Errorf("node: training data: %w", err)
	}
	if cfg.Sync {
		if err := checkListen(cfg.listenAddrs()); err != nil {
			return nil, err
		}
	}
	var lk *dirLock
	if cfg.ReadOnly {
		lk, err = acquireSharedLock(l.Lock)
	} else {
		lk, err = acquireLock(l.Lock)
	}
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		p:       p,
		log:     cfg.Log,
		layout:  l,
		lock:    lk,
		corpus:  corpus,
		started: time.Now(),
		tipCh:   make(chan struct{}, 1),
		turn:    turn{ch: cfg.TrainGate},
		done:    make(chan struct{}),
	}
	n.maxHeight.Store(cfg.MaxHeight)
	if err := n.open(); err != nil {
		n.shutdown()
		return nil, err
	}
	return n, nil
}

func (n *Node) open() error {
	cfg, p, l := &n.cfg, n.p, n.layout
	var err error
	if n.dev, err = openDevice(cfg, n.log); err != nil {
		return err
	}
	n.st, err = store.Open(l.Chain, &store.Options{Timeout: 2 * time.Second, ReadOnly: cfg.ReadOnly})
	if err != nil {
		return fmt.Errorf("node: %w", err) // the store's error names the file
	}
	n.bc, err = chain.New(chain.Config{Params: p, Store: n.st, CheckpointDir: l.Checkpoints, Backend: n.dev.backend})
	if err != nil {
		return fmt.Errorf("node: open chain in %s: %w", l.Dir, err)
	}
	if cfg.ReadOnly {
		n.wal, err = wallet.OpenReadOnly(l.Wallet, p)
	} else {
		n.wal, err = wallet.Open(l.Wallet, p)
	}
	if err != nil {
		return fmt.Errorf("node: %w", err) // the wallet's error names the file
	}
	// A wallet file older than the chain (a restored copy) finds its
	// coins: mined ones by height, payments up to the gap limit.
	if found, err := n.wal.Discover(n.bc); err != nil {
		return fmt.Errorf("node: wallet: %w", err)
	} else if found > 0 {
		n.log.Info().Int("keys", found).Msg("wallet: found coins on keys the wallet file did not list")
	}
	n.key = contributionKey(n.wal.Seed())
	n.mp = mempool.New(mempool.Config{Chain: n.bc})
	n.pool = newContribPool(n.bc)
	n.unsub = append(n.unsub, n.bc.Subscribe(n.mp.HandleTipEvent), n.bc.Subscribe(n.onTip))
	n.restoreUnconfirmed()

	if n.ev, err = newEvaluator(n); err != nil {
		return err
	}
	if cfg.Train {
		if n.tr, err = newTrainer(n); err != nil {
			return err
		}
	}
	threads := cfg.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	if n.dev.solver == nil {
		cpu := miner.NewCPU(threads)
		n.dev.solver = cpu
		n.dev.hashes = cpu.Hashes
		n.dev.desc = fmt.Sprintf("cpu x%d threads (%s)", cpu.Threads(), cpu.Impl())
	}
	n.mnr, err = miner.New(miner.Config{
		Solver: n.dev.solver,
		Clock:  func() int64 { return n.cfg.now().Unix() },
		Log:    n.log.With().Str("module", "miner").Logger(),
	})
	if err != nil {
		return err
	}
	if cfg.Sync {
		if err := n.startNet(); err != nil {
			return err
		}
	}
	tip := n.bc.Tip()
	n.log.Info().Str("network", p.Name).Str("genesis", p.GenesisHash.String()).Uint64("height", tip.Height).
		Str("tip", tip.Hash.String()).Str("device", n.dev.desc).Str("datadir", l.Dir).Msg("node opened")
	n.ev.notify()
	return nil
}

func (n *Node) startNet() error {
	cfg := &n.cfg
	var pc p2p.Config
	if cfg.LocalNet {
		pc = p2p.TestConfig(n.p)
	} else {
		pc = p2p.ConfigForParams(n.p)
		pc.EnableMDNS, pc.EnableDHT = true, true
	}
	pc.DataDir = n.layout.Dir
	// Snap sync: far behind a peer, take its weights snapshot (checked
	// against the header's state root, kept by the chain as a checkpoint)
	// and connect the blocks below it without replaying their
	// contributions (chain.ImportSnapshot).
	pc.SnapSync = true
	if cfg.Listen != nil {
		pc.ListenAddrs = append([]string(nil), cfg.Listen...)
	}
	if cfg.Bootstrap != nil {
		pc.Bootstrap = append([]string(nil), cfg.Bootstrap...)
	}
	if cfg.NoDiscovery {
		pc.EnableMDNS, pc.EnableDHT = false, false
	}
	pc.Logger = n.log
	pc.Now = cfg.Now
	if cfg.P2P != nil {
		cfg.P2P(&pc)
	}
	ad := p2p.NewChainAdapter(n.bc)
	ad.Now = cfg.Now
	var err error
	n.net, err = p2p.New(pc, p2p.Deps{
		Chain:          ad,
		Mempool:        mempoolAdapter{n.mp},
		Contributions:  n.pool,
		SnapshotSource: ad,
		SnapshotSink:   ad,
	})
	if err != nil {
		return fmt.Errorf("node: p2p: %w", err)
	}
	return nil
}

// Run runs the trainer-miner loop (with Mine or Train), the loss
// evaluator and the progress log until ctx is done, then shuts the node
// down: it stops mining at once, stops the p2p node, flushes the weights
// checkpoint and closes the store. It returns nil after a clean shutdown
// caused by ctx. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	n.runMu.Lock()
	if n.running || n.closed.Load() {
		n.runMu.Unlock()
		return errorf(ErrClosed, "Run called twice or after Close")
	}
	lctx, cancel := context.WithCancel(ctx)
	n.running = true
	n.runCancel = cancel
	n.runMu.Unlock()
	defer close(n.done)

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); n.ev.run(lctx) }()
	go func() { defer wg.Done(); n.progressLoop(lctx) }()
	go func() { defer wg.Done(); n.netLoop(lctx) }()
	if n.cfg.Mine || n.cfg.Train {
		wg.Add(1)
		go func() { defer wg.Done(); n.loop(lctx) }()
	}
	<-lctx.Done()
	n.log.Info().Msg("shutting down")
	cancel()
	n.cancelRound()
	wg.Wait()
	err := n.shutdown()
	if err != nil {
		n.log.Error().Err(err).Msg("shutdown")
		return err
	}
	n.log.Info().Msg("node stopped")
	return nil
}

// Close shuts the node down; if Run is active it is stopped first (it
// then returns nil) and Close waits for it. Safe to call more than once.
func (n *Node) Close() error {
	n.runMu.Lock()
	running, cancel := n.running, n.runCancel
	n.runMu.Unlock()
	if running {
		cancel()
		<-n.done
	}
	return n.shutdown()
}

// shutdown closes everything once, in dependency order: p2p (no more
// blocks arrive), the chain (writes the tip's weights checkpoint), the
// store, the model graphs, the device, the lock.
func (n *Node) shutdown() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		var errs []error
		if n.net != nil {
			if err := n.net.Close(); err != nil {
				errs = append(errs, fmt.Errorf("p2p: %w", err))
			}
		}
		for _, u := range n.unsub {
			u()
		}
		n.cancelRound()
		if n.wal != nil {
			if err := n.wal.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("wallet: %w", err))
			}
		}
		// Closing the chain writes the tip's weights checkpoint: not for a
		// read-only node (the chain has nothing else to release).
		if n.bc != nil && !n.cfg.ReadOnly {
			if err := n.bc.Close(); err != nil {
				errs = append(errs, fmt.Errorf("chain: %w", err))
			}
		}
		if n.st != nil {
			if err := n.st.Close(); err != nil {
				errs = append(errs, fmt.Errorf("store: %w", err))
			}
		}
		if n.tr != nil {
			n.tr.close()
		}
		if n.ev != nil {
			n.ev.close()
		}
		if n.dev != nil {
			n.dev.close()
		}
		n.lock.release()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// SetMaxHeight changes Config.MaxHeight (0: no limit) of a running node.
func (n *Node) SetMaxHeight(h uint64) {
	n.maxHeight.Store(h)
	select {
	case n.tipCh <- struct{}{}:
	default:
	}
}

func (n *Node) cancelRound() {
	n.roundMu.Lock()
	if n.roundCancel != nil {
		n.roundCancel()
	}
	n.roundMu.Unlock()
}

// onTip runs on every tip change (from the goroutine that changed it).
func (n *Node) onTip(ev chain.TipEvent) {
	n.m.blocksConnected.Add(uint64(len(ev.Connected)))
	if len(ev.Disconnected) > 0 {
		n.m.reorgs.Add(1)
		n.log.Info().Int("disconnected", len(ev.Disconnected)).Int("connected", len(ev.Connected)).
			Uint64("height", ev.Height).Str("tip", ev.Hash.String()).Msg("reorganized")
	}
	n.roundMu.Lock()
	if n.roundCancel != nil && n.roundParent != ev.Hash {
		n.roundCancel() // stop mining at once: the template's parent is stale
	}
	n.roundMu.Unlock()
	select {
	case n.tipCh <- struct{}{}:
	default:
	}
	for _, b := range ev.Connected {
		if err := n.wal.NoteBlock(b); err != nil {
			n.log.Warn().Err(err).Uint64("height", b.Header.Height).Msg("wallet: write")
		}
		n.noteConnected(b)
	}
	n.pool.prune(ev.Height)
	if n.tr != nil {
		n.tr.onConnected(ev.Connected)
	}
	if n.ev != nil {
		n.ev.notify()
	}
}
