package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/store"
	"github.com/gradientcoin/gradientcoin/worker/node"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

func cmdChain(ctx context.Context, env *cliEnv, args []string) error {
	const usage = `chain <show|verify> [flags]

  show [HEIGHT|HASH]  the tip (or a block) and recent blocks; from the running
                      node's API, or from the data directory when no node runs
  verify              replay the stored main chain from genesis in memory,
                      checking every block, every state root (the model
                      weights after each block) and the final UTXO set; reads
                      the data directory directly (stop the node first)`
	if len(args) == 0 {
		return usageErrorf("chain: missing subcommand (show or verify; see 'gradientcoin chain -h')")
	}
	switch args[0] {
	case "show":
		return cmdChainShow(ctx, env, args[1:])
	case "verify":
		return cmdChainVerify(ctx, env, args[1:])
	case "-h", "-help", "--help":
		fmt.Fprintf(env.stdout, "Usage: gradientcoin %s\n", usage)
		return flag.ErrHelp
	}
	return usageErrorf("chain: unknown subcommand %q (show or verify)", args[0])
}

// verifyReport is chain verify's result.
type verifyReport struct {
	Network   string     `json:"network"`
	Height    uint64     `json:"height"`
	Tip       chain.Hash `json:"tip"`
	StateRoot chain.Hash `json:"state_root"`
	Blocks    uint64     `json:"blocks"`
	Seconds   float64    `json:"seconds"`
	OK        bool       `json:"ok"`
	Error     string     `json:"error,omitempty"`
	// FailedHeight is the height of the first block that failed (when
	// OK is false and a block failed).
	FailedHeight *uint64 `json:"failed_height,omitempty"`
}

func cmdChainVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "chain verify", `chain verify [--json] [--network N] [--datadir D]

Replays the stored main chain from the genesis block on an in-memory chain:
every block is decoded from the store, checked to hash to its index entry,
and validated in full (proof of work, difficulty, transactions, signatures,
contributions, and the state root of the model weights after it). The UTXO
set and supply at the end must equal the stored ones. A failure names the
height of the first bad block and exits 1. Stop the node first: this reads
the store directly.`, groupBase)
	asJSON := fs.Bool("json", false, "print a JSON report")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	cfg, err := fs.resolve(env)
	if err != nil {
		return err
	}
	st, _, err := openLocalStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	var progress io.Writer
	if env.isTerminal && !*asJSON {
		progress = env.stderr
	}
	rep := verifyChain(ctx, cfg.Params, st, progress)
	if *asJSON {
		if err := json.NewEncoder(env.stdout).Encode(rep); err != nil {
			return err
		}
		if !rep.OK {
			return errSilentFailure
		}
		return nil
	}
	if !rep.OK {
		return fmt.Errorf("chain verify: %s", rep.Error)
	}
	fmt.Fprintf(env.stdout, "chain verify: ok: %d blocks of %s replayed from genesis in %.1fs; tip %d %s, state root %s; UTXO set and supply match\n",
		rep.Blocks, rep.Network, rep.Seconds, rep.Height, rep.Tip, rep.StateRoot)
	return nil
}

// verifyChain replays the main chain of st on a fresh in-memory chain.
func verifyChain(ctx context.Context, p *chain.Params, st *store.Store, progress io.Writer) verifyReport {
	start := time.Now()
	rep := verifyReport{Network: p.Name}
	fail := func(h *uint64, format string, a ...any) verifyReport {
		rep.Error = fmt.Sprintf(format, a...)
		if h != nil {
			hh := *h
			rep.FailedHeight = &hh
		}
		rep.Seconds = time.Since(start).Seconds()
		return rep
	}
	state, ok, err := st.State()
	if err != nil {
		return fail(nil, "read chain state: %v", err)
	}
	if !ok {
		return fail(nil, "the store has no chain state (not initialised)")
	}
	// The main chain: walk back from the recorded tip through the index.
	headers := map[chain.Hash]chain.Header{}
	if err := st.ForEachHeader(func(h *chain.Header, _ chain.BlockStatus) error {
		headers[h.BlockHash()] = *h
		return nil
	}); err != nil {
		return fail(nil, "read block index: %v", err)
	}
	hashes := make([]chain.Hash, state.Height+1)
	cur := state.Tip
	for i := int64(state.Height); i >= 0; i-- {
		h, ok := headers[cur]
		if !ok {
			hh := uint64(i)
			return fail(&hh, "height %d: block %s is not in the block index", i, cur)
		}
		if h.Height != uint64(i) {
			hh := uint64(i)
			return fail(&hh, "height %d: index entry of block %s says height %d", i, cur, h.Height)
		}
		hashes[i] = cur
		cur = h.PrevBlock
	}
	if hashes[0] != p.GenesisHash {
		zero := uint64(0)
		return fail(&zero, "height 0: genesis %s is not %s's genesis %s", hashes[0], p.Name, p.GenesisHash)
	}
	mem := chain.NewMemStore()
	bc, err := chain.New(chain.Config{Params: p, Store: mem})
	if err != nil {
		return fail(nil, "new in-memory chain: %v", err)
	}
	defer bc.Close()
	lastReport := time.Now()
	for h := uint64(1); h <= state.Height; h++ {
		if err := ctx.Err(); err != nil {
			return fail(nil, "interrupted at height %d", h)
		}
		want := hashes[h]
		blk, err := st.FetchBlock(want)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, want.String()) || strings.Contains(msg, want.String()[:16]) {
				return fail(&h, "height %d: %s", h, msg)
			}
			return fail(&h, "height %d: block %s: %v", h, want, err)
		}
		if got := blk.Hash(); got != want {
			return fail(&h, "height %d: stored block hashes to %s, not %s (the stored bytes were changed)", h, got, want)
		}
		res, err := bc.ProcessBlock(blk, time.Now().Unix())
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, want.String()) || strings.Contains(msg, want.String()[:16]) {
				return fail(&h, "height %d: %s", h, msg) // the chain's error names the block
			}
			return fail(&h, "height %d: block %s: %v", h, want, err)
		}
		if !res.MainChain || bc.Tip().Hash != want {
			return fail(&h, "height %d: block %s did not extend the replayed chain", h, want)
		}
		rep.Blocks++
		if progress != nil && time.Since(lastReport) > time.Second {
			fmt.Fprintf(progress, "\rverifying: height %d/%d", h, state.Height)
			lastReport = time.Now()
		}
	}
	if progress != nil && state.Height > 0 {
		fmt.Fprintf(progress, "\r\033[K")
	}
	tip := bc.Tip()
	rep.Height, rep.Tip, rep.StateRoot = tip.Height, tip.Hash, tip.Header.StateRoot
	// The UTXO set and the supply must match the store's.
	stored, err := utxoSet(st.ForEachUtxo)
	if err != nil {
		return fail(nil, "read stored UTXO set: %v", err)
	}
	replayed, err := utxoSet(bc.ForEachUtxo)
	if err != nil {
		return fail(nil, "read replayed UTXO set: %v", err)
	}
	if a, b := chain.UtxoSetHash(stored), chain.UtxoSetHash(replayed); a != b {
		return fail(nil, "UTXO set differs from the replay's (%d stored outputs, hash %s; %d replayed, hash %s)", len(stored), short(a), len(replayed), short(b))
	}
	if tip.Supply != state.Supply {
		return fail(nil, "stored supply %d atoms differs from the replay's %d", state.Supply, tip.Supply)
	}
	rep.OK = true
	rep.Seconds = time.Since(start).Seconds()
	return rep
}

func utxoSet(each func(func(chain.Utxo) error) error) ([]chain.Utxo, error) {
	var out []chain.Utxo
	err := each(func(u chain.Utxo) error { out = append(out, u); return nil })
	return out, err
}

// parseBlockID parses a height or a block hash.
func parseBlockID(s string) (height uint64, hash chain.Hash, isHash bool, err error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, chain.Hash{}, false, nil
	}
	h, err := chain.ParseHash(s)
	if err != nil {
		return 0, chain.Hash{}, false, fmt.Errorf("%q is neither a height nor a block hash", s)
	}
	return 0, h, true, nil
}

func cmdChainShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "chain show", `chain show [HEIGHT|HASH] [--limit N] [--json]

Without an argument: the tip and the N most recent main-chain blocks. With
a height or a block hash: that block in full (header, transactions,
contribution hashes). Uses the running node's API, or opens the data
directory when no node runs.`, groupBase|groupRPC)
	limit := fs.Int("limit", 10, "recent blocks to list (1..1000)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return unexpectedArg("chain show", pos[1])
	}
	if *limit < 1 || *limit > 1000 {
		return usageErrorf("chain show: --limit %d out of range (1..1000)", *limit)
	}
	var id string
	if len(pos) == 1 {
		id = pos[0]
		if _, _, _, err := parseBlockID(id); err != nil {
			if slices.Contains(chain.NetworkNames(), id) {
				return unexpectedArg("chain show", id)
			}
			return usageErrorf("chain show: %v", err)
		}
	}
	cfg, err := fs.resolve(env)
	if err != nil {
		return err
	}
	note := env.stderr
	if *asJSON {
		note = nil
	}
	out := env.stdout
	if id != "" {
		var blk rpc.Block
		err := viaNode(ctx, cfg, note, false,
			func(c *rpc.Client) (err error) { blk, err = c.Block(ctx, id); return },
			func(n *node.Node) error {
				height, hash, isHash, _ := parseBlockID(id)
				var b *chain.Block
				var err error
				if isHash {
					b, err = n.Chain().BlockByHash(hash)
				} else {
					b, err = n.Chain().BlockByHeight(height)
				}
				if err != nil {
					return fmt.Errorf("block %s not found (tip %d)", id, n.Chain().Tip().Height)
				}
				blk = rpc.NewBlock(cfg.Params, b, n.Chain().IsMainChain(b.Hash()), n.Wallet().Owns)
				return nil
			})
		if err != nil {
			return fmt.Errorf("chain show: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(blk)
		}
		printBlock(out, blk)
		return nil
	}
	var blocks []node.BlockSummary
	err = viaNode(ctx, cfg, note, false,
		func(c *rpc.Client) (err error) { blocks, err = c.RecentBlocks(ctx, *limit); return },
		func(n *node.Node) error { blocks = n.RecentBlocks(*limit); return nil })
	if err != nil {
		return fmt.Errorf("chain show: %w", err)
	}
	if *asJSON {
		if blocks == nil {
			blocks = []node.BlockSummary{}
		}
		return json.NewEncoder(out).Encode(blocks)
	}
	if len(blocks) > 0 {
		fmt.Fprintf(out, "%s tip: height %d, %s\n\n", cfg.Network, blocks[0].Height, blocks[0].Hash)
	}
	fmt.Fprintf(out, "%-8s %-16s %-19s %5s %7s %8s %-18s %s\n", "HEIGHT", "HASH", "TIME", "TXS", "CONTRIB", "SIZE", "MINER", "REWARD (GC)")
	for _, b := range blocks {
		miner := b.Miner
		if len(miner) > 16 {
			miner = miner[:16] + "…"
		}
		if b.Mine {
			miner += " *"
		}
		fmt.Fprintf(out, "%-8d %-16s %-19s %5d %7d %8d %-18s %s\n", b.Height, b.Hash.String()[:16],
			time.Unix(b.Time, 0).Local().Format("2006-01-02 15:04:05"), b.Txs, b.Contributions, b.Size, miner, rpc.FormatCoins(b.Reward))
	}
	return nil
}

func printBlock(w io.Writer, b rpc.Block) {
	fmt.Fprintf(w, "block %d %s", b.Height, b.Hash)
	if !b.MainChain {
		fmt.Fprint(w, " (not on the main chain)")
	}
	fmt.Fprintf(w, "\n  time           %s\n  prev           %s\n  state root     %s\n  tx root        %s\n  gradient root  %s\n  bits %s  nonce %d  version %d  size %d bytes\n",
		time.Unix(b.Time, 0).UTC().Format(time.RFC3339), b.Prev, b.StateRoot, b.TxRoot, b.GradientRoot, b.Bits, b.Nonce, b.Version, b.Size)
	fmt.Fprintf(w, "  reward         %s GC to %s\n", rpc.FormatCoins(b.Reward), b.Miner)
	fmt.Fprintf(w, "transactions (%d):\n", len(b.Transactions))
	for _, tx := range b.Transactions {
		kind := ""
		if tx.Coinbase {
			kind = " coinbase"
		}
		fmt.Fprintf(w, "  %s%s (%d bytes)\n", tx.TxID, kind, tx.Size)
		for _, in := range tx.Inputs {
			fmt.Fprintf(w, "    in  %s:%d from %s\n", in.TxID, in.Index, in.From)
		}
		for _, o := range tx.Outputs {
			fmt.Fprintf(w, "    out %s GC to %s\n", rpc.FormatCoins(o.Value), o.Address)
		}
	}
	fmt.Fprintf(w, "contributions (%d):\n", len(b.ContributionHashes))
	for _, h := range b.ContributionHashes {
		fmt.Fprintf(w, "  %s\n", h)
	}
}
