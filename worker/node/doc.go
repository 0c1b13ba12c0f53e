// Package node is a GradientCoin full node: the chain (bbolt store, weight
// checkpoints), the mempool, the wallet, the p2p node and the
// trainer-miner loop, in one value with a query API for the command line
// and the HTTP API.
//
// # Data directory
//
// Init(dir, params) creates it (the directory 0700; see Layout):
//
//	node.json          network, genesis hash, format version (written last)
//	chain.db           bbolt store: blocks, UTXO set, undo data, tip
//	checkpoints/       model weight checkpoints (temp file, fsync, rename)
//	wallet.json        wallet seed and key count (0600, atomic)
//	p2p_identity.key   libp2p identity
//	loss.jsonl         validation loss history (appended by a running node)
//	LOCK               flock-ed by the process that has the node open;
//	                   holds "pid N host H since T"
//
// Init builds a missing directory under a temporary name next to it and
// renames it into place (an interrupted Init leaves nothing behind);
// it refuses a directory that already holds a node (ErrAlreadyInitialized)
// and removes what it created when it fails. A directory holding part of
// a node (an init cut short by an older version, files removed by hand) is
// ErrIncomplete for Init and Open alike, with one message: "incomplete
// data directory D (...): remove it and run init again". Open(cfg) refuses, with a
// one-line error and without writing anything, a missing directory
// (ErrNoDataDir), an uninitialised one (ErrNotInitialized), one of another
// network (ErrWrongNetwork, naming both) and one in use (ErrLocked, naming
// the holder from LOCK). The commands that only read a data directory
// (wallet, chain, generate, export) can Open it with Sync, Train and Mine
// off and Config.ReadOnly: the store and the wallet file opened read-only,
// a shared lock on LOCK that writes nothing, no weight checkpoint written
// (NewAddress and Send then fail); while a node runs they get ErrLocked
// and should ask its HTTP API.
//
// # Running
//
// Open starts the chain (rebuilding the weights from the newest checkpoint
// and replay), the wallet, the mempool and, with Config.Sync, the p2p node
// (listening, syncing, relaying). Sync is headers-first with snap sync on:
// a node far behind its best peer indexes the headers, imports the peer's
// weights snapshot (verified against the header's state root; the chain
// keeps it as a checkpoint, see chain.BlockChain.ImportSnapshot) and
// connects the blocks below it without replaying their contributions; the
// node serves its own checkpoints as snapshots (p2p.ChainAdapter). While
// an imported snapshot waits for its block, the trainer-miner loop and the
// loss evaluator wait too (the weights below it would cost a replay from
// genesis). Run(ctx) adds the trainer-miner loop
// (with Train or Mine), the loss evaluator and the progress log (one line
// at most every ProgressInterval, default 10 s) until ctx is done; then it
// stops mining at once, stops training and the loss evaluation between
// the model's operators (a step of a large model takes far longer than a
// shutdown may), closes the p2p node, writes the tip's weight checkpoint
// and the wallet file, and closes the store, well within 10 s, and
// returns nil. Close does the same for a node that is not running (or
// stops Run and waits).
//
// Blocks are logged ("mined block", with mine_ms; "block connected") at
// info at most once per 10 s, faster ones at debug. With Sync, outside
// the devnet, the node warns at start when it has no bootstrap peers,
// once per bootstrap peer it cannot reach, and every 5 minutes (from 30 s
// after start) while it has no peers at all: it would mine alone.
//
// The trainer-miner loop, per tip P: take K = Training.LocalSteps local
// steps from the weights at P on the node's private shard (Config.Shard,
// else shard data.ShardIndex(contribution key, DefaultShards) of the
// training stream; batches of the model's context; AdamW with the
// network's LocalLR by default; Config.Optimizer), form Δ = w_K − w_P, add
// the error-feedback residual (with a count-sketch with top-k recovery:
// keep the TopK largest entries, which that recovery needs, and carry the
// rest in the residual), sketch with P's seed, quantize and sign with the
// node's contribution key (derived from the wallet seed); build a template
// (coinbase: subsidy + fees to the wallet's coinbase key of the height,
// wallet.CoinbaseAddress, so mining writes nothing and a restored wallet
// finds every mined coin; payload height ‖ extra nonce; mempool transactions by fee rate within the size budget; the
// contribution, and in Pooled mode others' contributions for P heard over
// gossip; state root of Apply; bits; timestamp max(now, MTP+1)); check it
// with CheckBlockTemplate; mine it (CPU threads, or the GPU in the gccuda
// build with UseGPU); process and publish the solved block. A new tip
// cancels the round at once (between local steps, inside the nonce
// search). Without Train the node mines empty-gradient blocks; without Mine
// it trains and announces (Pooled) but does not mine. The residual moves
// forward only when a connected block includes the contribution it came
// from. Reorgs are the chain's: it rolls the weights back from checkpoints
// and replays.
//
// The wallet follows the chain: Open runs wallet.Discover (a wallet file
// older than the chain finds its coins) and every connected block goes
// to wallet.NoteBlock. A payment Send makes is recorded in the wallet file
// until a block includes it: Open puts such payments back in the mempool
// (dropping those the chain no longer allows), and the node gossips them
// again when peers appear and every 10 minutes while they wait.
//
// After every new tip the evaluator measures the tip model's validation
// loss on fixed batches of the corpus's validation stream (LossHistory,
// Status.Loss). The history is appended to loss.jsonl and read back at
// open: the points on the same validation batches whose block is still
// on the main chain.
//
// # Query API (stable; used by cmd/gradientcoin and worker/rpc)
//
//	Status() Status                       network, genesis, height, tip, state root, peers,
//	                                      syncing, hash rate (effective, over wall time) and
//	                                      mining hash rate (over the time spent mining),
//	                                      loss (*float64, nil until known), balance, immature,
//	                                      mining, training, device, peer id, addrs, mempool
//	                                      txs, uptime, version and commit (Config), cuda build
//	LossHistory() []LossPoint             {Height, Hash, Loss, Time}
//	EvalLoss(w) (float64, error)          loss of any weights on the same batches
//	RecentBlocks(k) []BlockSummary        {Height, Hash, Time, Txs, Contributions, Size,
//	                                      Miner, Reward, Mine, StateRoot}, tip first
//	Chain() *chain.BlockChain, Mempool() *mempool.Pool, Wallet() *wallet.Wallet, Params()
//	NewAddress() (string, error)
//	Balance() (spendable, immature uint64, err error)
//	Send(to string, amount, feeRate uint64) (chain.Hash, error)
//	                                      overdraft: chain.ErrInsufficientFunds (names have/need);
//	                                      bad address: chain.ErrBadAddress
//	History() ([]WalletTx, error)         received/sent per tx with heights; pending last
//	Metrics() MetricsSnapshot             counters and gauges (Prometheus names in comments)
//	WeightsAt(height) ([]float32, chain.Hash, error), ModelConfig()
//	Generate(prompt, n, GenerateOptions) ([]byte, error)
//	PeerID(), Addrs() (dialable, with /p2p/<id>), Connect(ctx, addr)
//
// Package variables and constants: CUDABuild (the gccuda tag), DefaultShards, DataDirNetwork(dir) (the
// network recorded in a data directory).
//
// # Errors
//
// ErrNoDataDir, ErrNotInitialized, ErrAlreadyInitialized, ErrIncomplete, ErrWrongNetwork,
// ErrLocked, ErrCorruptDataDir, ErrConfig, ErrClosed, ErrBadRequest
// (errors.Is); errors of chain, wallet, mempool, p2p, data and gpu pass
// through wrapped with context (e.g. Send's chain.ErrInsufficientFunds,
// UseGPU's gpu.ErrNoCUDA in the default build).
//
// The package logs only to Config.Log (zerolog; the zero value discards).
package node
