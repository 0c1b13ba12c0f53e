package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

// TestReadOnly: a read-only store reads what a writer stored, refuses
// writes, shares the file with other readers, changes no byte of it, and
// creates nothing when the file is missing.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chain.db")
	p := chaintest.Params()
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: p, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	bc.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi0, _ := os.Stat(path)

	ro := &store.Options{ReadOnly: true, Timeout: 200 * time.Millisecond}
	r1, err := store.Open(path, ro)
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	r2, err := store.Open(path, ro)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	for i, r := range []*store.Store{r1, r2} {
		s, ok, err := r.State()
		if err != nil || !ok || s.Tip != p.GenesisHash {
			t.Errorf("reader %d: state %+v %v %v", i, s, ok, err)
		}
	}
	if err := r1.PutBlock(p.GenesisBlock, chain.StatusDataStored); !errors.Is(err, chain.ErrStore) {
		t.Errorf("write through a read-only store: %v", err)
	}
	// A writer waits for the readers (and times out here).
	if w, err := store.Open(path, &store.Options{Timeout: 100 * time.Millisecond}); err == nil {
		w.Close()
		t.Error("a writer opened the store while readers held it")
	}
	r1.Close()
	r2.Close()
	after, _ := os.ReadFile(path)
	fi1, _ := os.Stat(path)
	if !bytes.Equal(before, after) || !fi1.ModTime().Equal(fi0.ModTime()) {
		t.Error("read-only opens changed the database file")
	}

	missing := filepath.Join(dir, "sub", "none.db")
	if _, err := store.Open(missing, ro); !errors.Is(err, chain.ErrStore) {
		t.Errorf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("read-only open created %s", filepath.Dir(missing))
	}
}
