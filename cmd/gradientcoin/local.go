package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/store"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

// errDataDirInUse: a command that reads the store directly found it open
// in another process (a running node).
var errDataDirInUse = errors.New("data directory in use")

// checkDataDir verifies, reading only, that cfg.DataDir is an initialised
// data directory of cfg's network.
func checkDataDir(cfg *Config) (node.Layout, error) {
	l := node.LayoutOf(cfg.DataDir)
	st, err := os.Stat(cfg.DataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && cfg.DataDirDefault && cfg.sources["network"] == "default":
		hint := fmt.Sprintf("create it with 'gradientcoin init --network %s'", cfg.Network)
		if others := existingDefaultDirs(cfg.Network); len(others) > 0 {
			hint = "or pass --network " + strings.Join(others, " or --network ") + ", whose data directory exists; or " + hint
		}
		return l, fmt.Errorf("data directory %s does not exist (%s)", cfg.DataDir, hint)
	case errors.Is(err, fs.ErrNotExist):
		return l, fmt.Errorf("data directory %s does not exist (create it with 'gradientcoin init --network %s --datadir %s')", cfg.DataDir, cfg.Network, cfg.DataDir)
	case err != nil:
		return l, fmt.Errorf("data directory %s: %v", cfg.DataDir, unwrapPathErr(err))
	case !st.IsDir():
		return l, fmt.Errorf("data directory %s is a file", cfg.DataDir)
	}
	name, genesis, err := node.DataDirNetwork(cfg.DataDir)
	if err != nil {
		if errors.Is(err, node.ErrIncomplete) {
			return l, errors.New(strings.TrimPrefix(err.Error(), "node: "))
		}
		if errors.Is(err, node.ErrNotInitialized) {
			return l, fmt.Errorf("data directory %s is not initialised (run 'gradientcoin init --network %s --datadir %s')", cfg.DataDir, cfg.Network, cfg.DataDir)
		}
		return l, err
	}
	if name != cfg.Network || genesis != cfg.Params.GenesisHash {
		return l, fmt.Errorf("data directory %s belongs to network %s (genesis %s), not %s", cfg.DataDir, name, short(genesis), cfg.Network)
	}
	return l, nil
}

// openLocalStore opens the data directory's block store for a command that
// reads it directly. A running node holds the store: that is
// errDataDirInUse.
func openLocalStore(cfg *Config) (*store.Store, node.Layout, error) {
	l, err := checkDataDir(cfg)
	if err != nil {
		return nil, l, err
	}
	if _, err := os.Stat(l.Chain); err != nil {
		return nil, l, fmt.Errorf("data directory %s: %s is missing", cfg.DataDir, node.ChainFile)
	}
	st, err := store.Open(l.Chain, &store.Options{Timeout: 500 * time.Millisecond, ReadOnly: true})
	if err != nil {
		if errors.Is(err, chain.ErrStore) && isTimeout(err) {
			return nil, l, fmt.Errorf("%w: %s is open in another process (a running node: stop it first, or let the command use its API)", errDataDirInUse, l.Chain)
		}
		return nil, l, err
	}
	return st, l, nil
}

// isTimeout recognises bbolt's lock timeout (the store flattens it into
// its message).
func isTimeout(err error) bool { return strings.HasSuffix(err.Error(), ": timeout") }

// short abbreviates a hash for messages.
func short(h chain.Hash) string { return h.String()[:16] }
