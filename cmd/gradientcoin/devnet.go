package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/devnet"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

func cmdDevnet(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "devnet", `devnet [--nodes 3] [--blocks 30] [--datadir D] [--keep] [--json]

The zero-config demo: N full nodes (real libp2p hosts on 127.0.0.1, each
with its own data directory and its own shard of the built-in corpus)
train the devnet's model and mine until every node is at height B, then a
summary. Live progress goes to stderr; with --json, stdout is exactly one
JSON object: {"network", "blocks", "elapsed_seconds", "loss_first",
"loss_last", "nodes": [{"id", "height", "tip", "state_root", "balance"}]}.
Exits 0 only if every node ends on the same tip and state root.`, 0)
	nodes := fs.Int("nodes", 3, fmt.Sprintf("number of nodes (1..%d)", devnet.MaxNodes))
	blocks := fs.Uint64("blocks", 30, "height every node must reach")
	dir := fs.String("datadir", "", "parent of the nodes' data directories (default: a temporary one, removed at the end)")
	keep := fs.Bool("keep", false, "keep the temporary data directories")
	threads := fs.Int("threads", 1, "mining threads per node")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object on stdout")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	logLevel := fs.String("log-level", "warn", "level of the nodes' logs on stderr: trace|debug|info|warn|error|disabled")
	logFormat := fs.String("log-format", "auto", "log format: auto|console|json")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fs.noArgs(pos)
	case *nodes < 1 || *nodes > devnet.MaxNodes:
		return usageErrorf("devnet: --nodes %d out of range (1..%d)", *nodes, devnet.MaxNodes)
	case *blocks < 1 || *blocks > devnet.MaxBlocks:
		return usageErrorf("devnet: --blocks %d out of range (1..%d)", *blocks, devnet.MaxBlocks)
	case *threads < 1 || *threads > 64:
		return usageErrorf("devnet: --threads %d out of range (1..64)", *threads)
	}
	switch *logLevel {
	case "trace", "debug", "info", "warn", "error", "disabled":
	default:
		return usageErrorf("devnet: --log-level %q: unknown level (trace, debug, info, warn, error, disabled)", *logLevel)
	}
	switch *logFormat {
	case "auto", "console", "json":
	default:
		return usageErrorf("devnet: --log-format %q: unknown format (auto, console, json)", *logFormat)
	}
	datadir := *dir
	if datadir != "" {
		if datadir, err = filepath.Abs(datadir); err != nil {
			return err
		}
	}
	var progress io.Writer
	if !*quiet {
		progress = env.stderr
	}
	p := chain.DevnetParams()
	if !*asJSON {
		fmt.Fprintf(env.stdout, "devnet: %d nodes on 127.0.0.1 train the %s model (%d parameters) and mine to height %d\n",
			*nodes, p.Name, p.Training.ParamCount(), *blocks)
	}
	sum, err := devnet.Run(ctx, devnet.Options{
		Nodes:    *nodes,
		Blocks:   *blocks,
		DataDir:  datadir,
		Keep:     *keep,
		Threads:  *threads,
		Progress: progress,
		Log:      newLogger(env.stderr, env.isTerminal, *logLevel, *logFormat),
	})
	if sum.Nodes == nil {
		sum.Nodes = []devnet.NodeSummary{}
	}
	interrupted := errors.Is(err, context.Canceled)
	switch {
	case interrupted:
		err = fmt.Errorf("devnet: interrupted (%v)", err)
	case err != nil && !strings.HasPrefix(err.Error(), "devnet:"):
		err = fmt.Errorf("devnet: %w", err)
	case err == nil && !sum.Agree():
		err = errors.New("devnet: the nodes did not end on the same tip and state root")
	}
	if err != nil {
		sum.Error = strings.TrimPrefix(oneLine(err.Error()), "devnet: ")
	}
	if *asJSON {
		// stdout is exactly one JSON object, a failure's included.
		if jerr := json.NewEncoder(env.stdout).Encode(sum); jerr != nil {
			return jerr
		}
		if err != nil {
			fmt.Fprintln(env.stderr, "gradientcoin: "+oneLine(err.Error()))
			return errSilentFailure
		}
		return nil
	}
	if err != nil && !interrupted && len(sum.Nodes) == 0 {
		return err // a setup failure: one line, no summary
	}
	printDevnetSummary(env.stdout, sum)
	return err
}

func printDevnetSummary(w io.Writer, s devnet.Summary) {
	agree := "every node on the same tip and state root"
	if !s.Agree() {
		agree = "NODES DISAGREE"
	}
	height := uint64(0)
	for _, n := range s.Nodes {
		height = max(height, n.Height)
	}
	fmt.Fprintf(w, "\n%s: %d nodes reached height %d in %.1fs, %s\n", s.Network, len(s.Nodes), height, s.ElapsedSeconds, agree)
	if s.LossLast != nil {
		trend := "lower"
		if *s.LossLast >= s.LossFirst {
			trend = "NOT lower"
		}
		fmt.Fprintf(w, "validation loss %.4f -> %.4f nats/byte (genesis model -> final model: %s)\n\n", s.LossFirst, *s.LossLast, trend)
	} else {
		fmt.Fprintf(w, "validation loss %.4f nats/byte at genesis (the final model was not measured)\n\n", s.LossFirst)
	}
	fmt.Fprintf(w, "%-4s %-20s %7s  %-16s  %-16s  %s\n", "NODE", "PEER ID", "HEIGHT", "TIP", "STATE ROOT", "BALANCE (GC)")
	for i, n := range s.Nodes {
		id := n.ID
		if len(id) > 20 {
			id = id[:8] + "…" + id[len(id)-8:]
		}
		fmt.Fprintf(w, "%-4d %-20s %7d  %-16s  %-16s  %s\n", i, id, n.Height, short(n.Tip), short(n.StateRoot), rpc.FormatCoins(n.Balance))
	}
	if s.DataDir != "" {
		fmt.Fprintf(w, "\ndata directories: %s (run one: gradientcoin run --datadir %s)\n", s.DataDir, filepath.Join(s.DataDir, "node0"))
	}
}
