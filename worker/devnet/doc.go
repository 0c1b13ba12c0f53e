// Package devnet runs a local GradientCoin network in one process: N full
// nodes (each a worker/node.Node with its own data directory and a real
// libp2p host on 127.0.0.1, port 0, connected in a full mesh, discovery
// off) train the network's model on the built-in corpus, each on its own
// shard (pages i mod N), and mine until every node is at height Blocks on
// the same tip; then they stop cleanly (stop mining, flush, close the
// stores) and Run returns a Summary.
//
// Summary's JSON is {"network", "blocks", "elapsed_seconds", "loss_first",
// "loss_last", "nodes": [{"id", "height", "tip", "state_root",
// "balance"}]}: loss_first is the validation loss of the genesis model,
// loss_last that of the final tip's model, on the same fixed validation
// batches (null when the run ended before it was measured). "datadir"
// (the parent of the nodes' data directories) is there when they are
// kept, "error" when the run failed. Summary.Agree reports whether every node ended on the same tip
// and state root (the CLI exits non-zero otherwise). If blocks tie at the
// last height, the nodes mine one more block at a time until they agree,
// so heights may end above Blocks.
//
// Progress (Options.Progress) is one updating line on a terminal, else a
// line per new height. The package logs only to Options.Log.
//
// Errors: ErrOptions (nodes or blocks out of range), ErrNodeFailed (a node
// failed to initialise, open, connect or stop; "devnet: node N: <the
// node's error>", which it wraps), and ctx's error when the caller
// cancels the run.
package devnet
