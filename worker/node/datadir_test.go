package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
)

// TestOpenBadDataDir: Open on a missing, uninitialised, foreign or
// corrupt data directory fails with a one-line error of the right kind
// naming the directory, and changes nothing on disk.
func TestOpenBadDataDir(t *testing.T) {
	p := testParams(t)
	other := chain.DevnetParams()
	other.GenesisTimestamp++
	if err := other.InitGenesis(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T) string // returns the data directory
		kind  error
		say   []string // substrings of the message
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, ErrNoDataDir, []string{"nope", "init"}},
		{"empty directory", func(t *testing.T) string { return t.TempDir() }, ErrNotInitialized, []string{MetaFile, "init"}},
		{"a file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, []byte("x"), 0o600)
			return f
		}, ErrNotInitialized, []string{"file"}},
		{"other genesis of the same network", func(t *testing.T) string { return initDir(t, other) }, ErrWrongNetwork, []string{other.GenesisHash.String(), p.GenesisHash.String()}},
		{"other network", func(t *testing.T) string {
			dir := initDir(t, p)
			m := `{"version":1,"network":"testnet","genesis":"` + chain.TestnetParams().GenesisHash.String() + `","created":"2026-01-01T00:00:00Z"}`
			if err := os.WriteFile(filepath.Join(dir, MetaFile), []byte(m), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		}, ErrWrongNetwork, []string{"testnet", "devnet"}},
		{"corrupt metadata", func(t *testing.T) string {
			dir := initDir(t, p)
			os.WriteFile(filepath.Join(dir, MetaFile), []byte("{"), 0o600)
			return dir
		}, ErrCorruptDataDir, []string{MetaFile}},
		{"wallet missing", func(t *testing.T) string {
			dir := initDir(t, p)
			os.Remove(filepath.Join(dir, WalletFile))
			return dir
		}, ErrNotInitialized, []string{WalletFile}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := c.setup(t)
			before := snapshot(t, dir)
			cfg := testConfig(p, dir, c.name)
			n, err := Open(cfg)
			if err == nil {
				n.Close()
				t.Fatalf("%s: Open succeeded", c.name)
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("%s: error %q is not %v", c.name, err, c.kind)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("%s: error spans lines: %q", c.name, msg)
			}
			for _, s := range c.say {
				if !strings.Contains(msg, s) {
					t.Errorf("%s: error %q does not mention %q", c.name, msg, s)
				}
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("%s: Open changed the disk:\nbefore:\n%s\nafter:\n%s", c.name, before, after)
			}
		})
	}
}

// TestInit: the layout and permissions; a second Init is refused without
// touching anything; DataDirNetwork reads the network back.
func TestInit(t *testing.T) {
	p := testParams(t)
	dir := initDir(t, p)
	l := LayoutOf(dir)
	for _, c := range []struct {
		name string
		path string
		dir  bool
		perm os.FileMode
	}{
		{"data directory", l.Dir, true, 0o700},
		{"metadata", l.Meta, false, 0o600},
		{"store", l.Chain, false, 0},
		{"checkpoints", l.Checkpoints, true, 0o700},
		{"wallet", l.Wallet, false, 0o600},
		{"identity", l.Identity, false, 0},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if st.IsDir() != c.dir {
			t.Errorf("%s: IsDir %v", c.name, st.IsDir())
		}
		if c.perm != 0 && st.Mode().Perm() != c.perm {
			t.Errorf("%s: mode %v, want %v", c.name, st.Mode().Perm(), c.perm)
		}
	}
	name, g, err := DataDirNetwork(dir)
	if err != nil || name != p.Name || g != p.GenesisHash {
		t.Errorf("DataDirNetwork = %s %s %v", name, g, err)
	}
	before := snapshot(t, dir)
	err = Init(dir, p)
	if !errors.Is(err, ErrAlreadyInitialized) || !strings.Contains(err.Error(), dir) {
		t.Errorf("second Init: %v", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("second Init changed the disk:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A stray wallet alone also blocks Init, and Init leaves it alone.
	d2 := t.TempDir()
	os.WriteFile(filepath.Join(d2, WalletFile), []byte("{}"), 0o600)
	if err := Init(d2, p); !errors.Is(err, ErrAlreadyInitialized) || !strings.Contains(err.Error(), WalletFile) {
		t.Errorf("Init over a wallet: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d2, WalletFile)); string(b) != "{}" {
		t.Errorf("Init over a wallet changed it to %q", b)
	}
}

// TestOpenLocked: a second Open of a data directory in use is refused,
// naming the holder; after Close it opens again.
func TestOpenLocked(t *testing.T) {
	p := testParams(t)
	dir := initDir(t, p)
	cfg := testConfig(p, dir, "a")
	cfg.Sync, cfg.Train, cfg.Mine = false, false, false
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(cfg)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") || !strings.Contains(err.Error(), dir) {
		t.Errorf("second Open: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b.Close()
}

// TestOpenBadDataPath: unreadable training data fails Open before it
// touches the data directory.
func TestOpenBadDataPath(t *testing.T) {
	p := testParams(t)
	dir := initDir(t, p)
	bin := filepath.Join(t.TempDir(), "blob.bin")
	os.WriteFile(bin, []byte{0, 1, 2, 0, 0, 0, 9}, 0o600)
	for _, c := range []struct {
		name, path string
	}{
		{"missing file", filepath.Join(t.TempDir(), "nothere.txt")},
		{"binary file", bin},
	} {
		before := snapshot(t, dir)
		cfg := testConfig(p, dir, c.name)
		cfg.DataPath = c.path
		n, err := Open(cfg)
		if err == nil {
			n.Close()
			t.Fatalf("%s: Open succeeded", c.name)
		}
		if !strings.Contains(err.Error(), filepath.Base(c.path)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q does not name the file on one line", c.name, err)
		}
		if after := snapshot(t, dir); after != before {
			t.Errorf("%s: Open changed the data directory", c.name)
		}
	}
}

// TestIncompleteDataDir: a directory with part of a node (an interrupted
// init) gets the same one-line verdict from Open, DataDirNetwork and
// Init, saying how to recover, and nothing changes; a fresh Init leaves
// no temporary directory behind.
func TestIncompleteDataDir(t *testing.T) {
	p := testParams(t)
	full := initDir(t, p)
	for _, c := range []struct {
		name  string
		keep  []string // files of a complete directory to keep
		extra string   // expected in the message
	}{
		{"only node.json", []string{MetaFile}, "no chain.db or wallet.json"},
		{"no wallet", []string{MetaFile, ChainFile, CheckpointsDir}, "keep"},
		{"no node.json", []string{ChainFile, WalletFile, IdentityFile}, "keep a copy of its wallet.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, f := range c.keep {
				if err := os.Rename(filepath.Join(full, f), filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Rename(filepath.Join(dir, f), filepath.Join(full, f)) })
			}
			before := snapshot(t, dir)
			cfg := testConfig(p, dir, "x")
			cfg.Sync = false
			_, oerr := Open(cfg)
			_, _, derr := DataDirNetwork(dir)
			ierr := Init(dir, p)
			for what, err := range map[string]error{"Open": oerr, "Init": ierr} {
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				if !errors.Is(err, ErrIncomplete) || !strings.Contains(msg, "incomplete data directory "+dir) ||
					!strings.Contains(msg, "remove it and run init again") || strings.Contains(msg, "\n") {
					t.Errorf("%s: %v", what, err)
				}
				if c.extra != "keep" && !strings.Contains(msg, c.extra) {
					t.Errorf("%s: %q does not say %q", what, msg, c.extra)
				}
			}
			if !errors.Is(oerr, ErrNotInitialized) || !errors.Is(ierr, ErrAlreadyInitialized) {
				t.Errorf("Open %v / Init %v: want ErrNotInitialized / ErrAlreadyInitialized too", oerr, ierr)
			}
			if c.keep[0] != MetaFile && !errors.Is(derr, ErrIncomplete) {
				t.Errorf("DataDirNetwork: %v", derr)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the data directory changed:\n%s\n%s", before, after)
			}
		})
	}
	parent := t.TempDir()
	if err := Init(filepath.Join(parent, "new"), p); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(parent); len(es) != 1 || es[0].Name() != "new" {
		t.Errorf("Init left %v in the parent directory", es)
	}
}
