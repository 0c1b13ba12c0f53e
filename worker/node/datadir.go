package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/store"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
	"github.com/gradientcoin/gradientcoin/net/p2p"
)

// Names of the files and folders of a data directory (see Layout).
const (
	MetaFile       = "node.json"   // network, genesis hash, format version; written last by Init
	ChainFile      = "chain.db"    // bbolt store: blocks, UTXO set, undo data, tip
	CheckpointsDir = "checkpoints" // model weight checkpoints (atomic files)
	WalletFile     = "wallet.json" // wallet seed and key count (0600, atomic)
	LockFile       = "LOCK"        // held (flock) by the process that has the node open
	LossFile       = "loss.jsonl"  // validation loss history, one LossPoint a line (appended)
	IdentityFile   = p2p.IdentityFile
)

// metaVersion is the data-directory format version.
const metaVersion = 1

// Layout is the paths of a data directory.
type Layout struct {
	Dir, Meta, Chain, Checkpoints, Wallet, Identity, Lock string
}

// LayoutOf returns the paths of data directory dir.
func LayoutOf(dir string) Layout {
	return Layout{
		Dir:         dir,
		Meta:        filepath.Join(dir, MetaFile),
		Chain:       filepath.Join(dir, ChainFile),
		Checkpoints: filepath.Join(dir, CheckpointsDir),
		Wallet:      filepath.Join(dir, WalletFile),
		Identity:    filepath.Join(dir, IdentityFile),
		Lock:        filepath.Join(dir, LockFile),
	}
}

// meta is the data directory's identity file.
type meta struct {
	Version int        `json:"version"`
	Network string     `json:"network"`
	Genesis chain.Hash `json:"genesis"`
	Created time.Time  `json:"created"`
}

// Init creates a node's data directory for network p: the directory (0700,
// created with its parents if missing), the bbolt store holding the genesis
// block, the checkpoints folder, a wallet with a fresh random seed (0600,
// written atomically) and the p2p identity key. A missing directory is
// built under a temporary name next to it and renamed into place, so an
// interrupted Init leaves nothing at dataDir; in an existing directory the
// metadata file that marks it as initialised is written last. Init refuses
// a directory that holds a node (ErrAlreadyInitialized) or part of one
// (ErrIncomplete, which says how to recover), and removes what it created
// if it fails.
func Init(dataDir string, p *chain.Params) error {
	if dataDir == "" {
		return errorf(ErrConfig, "empty data directory path")
	}
	if p == nil {
		return errorf(ErrConfig, "no network parameters")
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: network %s: %w", ErrConfig, p.Name, err)
	}
	l := LayoutOf(dataDir)
	st, err := os.Stat(dataDir)
	switch {
	case err == nil && !st.IsDir():
		return errorf(ErrConfig, "data directory %s is a file", dataDir)
	case errors.Is(err, fs.ErrNotExist):
		return initFresh(dataDir, p)
	case err != nil:
		return fmt.Errorf("node: init %s: %w", dataDir, err)
	}
	present, err := nodeFiles(l)
	if err != nil {
		return fmt.Errorf("node: init %s: %w", dataDir, err)
	}
	if len(present) > 0 {
		if m, err := readMeta(l); err == nil && complete(present) {
			return errorf(ErrAlreadyInitialized, "%s already holds a %s node (genesis %s); refusing to overwrite it", dataDir, m.Network, m.Genesis)
		}
		return incomplete(l, present, ErrAlreadyInitialized)
	}
	return populate(l, p, true)
}

// initFresh builds the data directory under a temporary name in its
// parent and renames it into place.
func initFresh(dataDir string, p *chain.Params) error {
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("node: create data directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".init-*")
	if err != nil {
		return fmt.Errorf("node: create data directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("node: create data directory: %w", err)
	}
	if err := populate(LayoutOf(tmp), p, false); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("node: create data directory %s: %w", dataDir, err)
	}
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// populate creates a node's files in directory l.Dir (which exists),
// node.json last; on failure it removes what it created (with cleanup).
func populate(l Layout, p *chain.Params, cleanup bool) error {
	lk, err := acquireLock(l.Lock)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		lk.release()
		if !ok && cleanup {
			for _, f := range []string{l.Meta, l.Chain, l.Wallet, l.Identity} {
				os.Remove(f)
			}
			os.RemoveAll(l.Checkpoints)
			os.Remove(l.Lock)
		}
	}()
	if err := os.Mkdir(l.Checkpoints, 0o700); err != nil {
		return fmt.Errorf("node: init: %w", err)
	}
	st, err := store.Open(l.Chain, &store.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("node: init: %w", err)
	}
	bc, err := chain.New(chain.Config{Params: p, Store: st, CheckpointDir: l.Checkpoints})
	if err == nil {
		err = bc.Close()
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("node: init: chain: %w", err)
	}
	if _, err := wallet.Create(l.Wallet, p); err != nil {
		return fmt.Errorf("node: init: %w", err)
	}
	if _, err := p2p.LoadOrCreateIdentity(l.Dir); err != nil {
		return fmt.Errorf("node: init: %w", err)
	}
	m := meta{Version: metaVersion, Network: p.Name, Genesis: p.GenesisHash, Created: time.Now().UTC().Truncate(time.Second)}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.Meta, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("node: init: %w", err)
	}
	ok = true
	return nil
}

// nodeFiles lists which of a node's files and folders l.Dir holds.
func nodeFiles(l Layout) ([]string, error) {
	var present []string
	for _, f := range []string{l.Meta, l.Chain, l.Wallet, l.Checkpoints, l.Identity} {
		_, err := os.Lstat(f)
		switch {
		case err == nil:
			present = append(present, filepath.Base(f))
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return present, nil
}

// complete reports whether present has what Open needs.
func complete(present []string) bool {
	return slices.Contains(present, MetaFile) && slices.Contains(present, ChainFile) && slices.Contains(present, WalletFile)
}

// incomplete is the ErrIncomplete for a directory holding only present.
func incomplete(l Layout, present []string, also error) error {
	var missing []string
	for _, f := range []string{MetaFile, ChainFile, WalletFile} {
		if !slices.Contains(present, f) {
			missing = append(missing, f)
		}
	}
	msg := fmt.Sprintf("incomplete data directory %s (%s, no %s: an interrupted init?): remove it and run init again",
		l.Dir, strings.Join(present, ", "), strings.Join(missing, " or "))
	if slices.Contains(present, WalletFile) {
		msg += fmt.Sprintf("; keep a copy of its %s if it may hold coins (it is the wallet's seed)", WalletFile)
	}
	return &incompleteError{msg: msg, also: also}
}

// readMeta reads and decodes the metadata file.
func readMeta(l Layout) (meta, error) {
	var m meta
	b, err := os.ReadFile(l.Meta)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errorf(ErrCorruptDataDir, "%s: %v", l.Meta, err)
	}
	if m.Version != metaVersion || m.Network == "" || m.Genesis.IsZero() {
		return m, errorf(ErrCorruptDataDir, "%s: version %d, network %q, genesis %s", l.Meta, m.Version, m.Network, m.Genesis)
	}
	return m, nil
}

// checkDataDir verifies, without writing anything, that dir is an
// initialised data directory of network p.
func checkDataDir(dir string, p *chain.Params) (Layout, error) {
	l := LayoutOf(dir)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, errorf(ErrNoDataDir, "%s (run init first)", dir)
	case err != nil:
		return l, fmt.Errorf("node: data directory %s: %w", dir, err)
	case !st.IsDir():
		return l, errorf(ErrNotInitialized, "%s is a file, not a directory", dir)
	}
	m, err := readMeta(l)
	if errors.Is(err, fs.ErrNotExist) {
		if present, _ := nodeFiles(l); len(present) > 0 {
			return l, incomplete(l, present, ErrNotInitialized)
		}
		return l, errorf(ErrNotInitialized, "%s has no %s (run init first)", dir, MetaFile)
	}
	if err != nil {
		return l, err
	}
	if m.Network != p.Name || m.Genesis != p.GenesisHash {
		return l, errorf(ErrWrongNetwork, "%s holds network %s (genesis %s), not %s (genesis %s)", dir, m.Network, m.Genesis, p.Name, p.GenesisHash)
	}
	if present, err := nodeFiles(l); err == nil && !complete(present) {
		return l, incomplete(l, present, ErrNotInitialized)
	}
	return l, nil
}

// DataDirNetwork returns the network name and genesis hash recorded in an
// initialised data directory (for a CLI that picks the network from it).
func DataDirNetwork(dir string) (string, chain.Hash, error) {
	l := LayoutOf(dir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", chain.Hash{}, errorf(ErrNoDataDir, "%s (run init first)", dir)
	}
	m, err := readMeta(l)
	if errors.Is(err, fs.ErrNotExist) {
		if present, _ := nodeFiles(l); len(present) > 0 {
			return "", chain.Hash{}, incomplete(l, present, ErrNotInitialized)
		}
		return "", chain.Hash{}, errorf(ErrNotInitialized, "%s has no %s (run init first)", dir, MetaFile)
	}
	if err != nil {
		return "", chain.Hash{}, err
	}
	return m.Network, m.Genesis, nil
}

// writeFileAtomic writes data to a temporary file next to path, fsyncs it,
// renames it over path and fsyncs the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
