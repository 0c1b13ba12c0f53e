package chain

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

func testUtxo(i byte, v uint64, cb bool) Utxo {
	var op OutPoint
	op.TxID[0], op.Index = i, uint32(i)
	return Utxo{OutPoint: op, Entry: UtxoEntry{Value: v, Address: Address{i}, Height: uint64(i), Coinbase: cb}}
}

func TestUtxoEncodings(t *testing.T) {
	us := []Utxo{testUtxo(1, 5, true), testUtxo(2, MaxMoney, false), testUtxo(3, 0, false)}
	got, err := DecodeUndo(EncodeUndo(us))
	if err != nil || len(got) != len(us) {
		t.Fatalf("undo round trip: %v", err)
	}
	for i := range us {
		if got[i] != us[i] {
			t.Errorf("undo entry %d: %+v, want %+v", i, got[i], us[i])
		}
	}
	for _, c := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"count larger than data", []byte{2, 0, 0, 0}},
		{"trailing byte", append(EncodeUndo(us), 0)},
	} {
		if _, err := DecodeUndo(c.raw); !errors.Is(err, ErrStore) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	e := EncodeUtxoEntry(us[0].Entry)
	e[UtxoEntrySize-1] = 0x80
	if _, err := DecodeUtxoEntry(e[:]); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := OutPointFromKey(make([]byte, 5)); err == nil {
		t.Error("short outpoint key accepted")
	}
}

func TestUtxoViewDelta(t *testing.T) {
	base := NewMemStore()
	a, b, c := testUtxo(1, 10, false), testUtxo(2, 20, false), testUtxo(3, 30, false)
	base.utxos[a.OutPoint] = a.Entry
	base.utxos[b.OutPoint] = b.Entry
	v := NewUtxoView(base)
	if e, ok, err := v.Spend(a.OutPoint); err != nil || !ok || e != a.Entry {
		t.Fatalf("spend a: %v %v", ok, err)
	}
	if _, ok, _ := v.Spend(a.OutPoint); ok {
		t.Fatal("a spent twice")
	}
	if ok, _ := v.Add(c.OutPoint, c.Entry); !ok {
		t.Fatal("add c")
	}
	if ok, _ := v.Add(b.OutPoint, b.Entry); ok {
		t.Fatal("b added over an unspent b")
	}
	// d is created and spent within the delta: no trace.
	d := testUtxo(4, 40, false)
	v.Add(d.OutPoint, d.Entry)
	v.Spend(d.OutPoint)
	delta := v.TakeDelta()
	if len(delta.Added) != 1 || delta.Added[0] != c || len(delta.Removed) != 1 || delta.Removed[0] != a {
		t.Fatalf("delta %+v", delta)
	}
	if add, rem := delta.SupplyChange(); add != 30 || rem != 10 {
		t.Fatalf("supply change +%d −%d", add, rem)
	}
	if d2 := v.TakeDelta(); len(d2.Added)+len(d2.Removed) != 0 {
		t.Fatalf("second delta not empty: %+v", d2)
	}
	if _, ok, _ := v.Lookup(b.OutPoint); !ok {
		t.Fatal("b not visible through the view")
	}
}

func TestOrphanPool(t *testing.T) {
	op := newOrphanPool(3, 1<<20, 100)
	mk := func(i byte, parent byte) (*Block, Hash) {
		b := &Block{Header: Header{Height: uint64(i), PrevBlock: Hash{parent}}}
		return b, b.Hash()
	}
	var hs []Hash
	for i := byte(1); i <= 4; i++ {
		b, h := mk(i, 9)
		op.add(b, h, int64(i))
		hs = append(hs, h)
	}
	if op.len() != 3 || op.has(hs[0]) {
		t.Fatalf("pool: %d entries, oldest held %v", op.len(), op.has(hs[0]))
	}
	if kids := op.takeChildren(Hash{9}); len(kids) != 3 || op.len() != 0 {
		t.Fatalf("children: %d, left %d", len(kids), op.len())
	}
	b, h := mk(5, 8)
	op.add(b, h, 0)
	op.expire(100)
	if !op.has(h) {
		t.Fatal("expired at its deadline")
	}
	op.expire(101)
	if op.has(h) {
		t.Fatal("not expired after its deadline")
	}
	// The byte bound evicts the oldest too.
	small := newOrphanPool(100, 2*(&Block{}).SerializeSize(), 100)
	for i := byte(1); i <= 3; i++ {
		b, h := mk(i, 9)
		small.add(b, h, 0)
	}
	if small.len() != 2 || small.bytes != 2*(&Block{}).SerializeSize() {
		t.Fatalf("byte-bounded pool: %d entries, %d bytes", small.len(), small.bytes)
	}
	// root walks up through orphans.
	b1, h1 := mk(6, 7)
	b2 := &Block{Header: Header{Height: 7, PrevBlock: h1}}
	op.add(b1, h1, 0)
	op.add(b2, b2.Hash(), 0)
	if r := op.root(b2.Hash()); r != h1 {
		t.Fatalf("root %s, want %s", r, h1)
	}
}

func TestCheckpointer(t *testing.T) {
	dir := t.TempDir()
	c, err := newCheckpointer(dir, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	w := []float32{1, 2, 3, 4, 5}
	var hs []Hash
	for i := 1; i <= 3; i++ {
		h := Hash{byte(i)}
		hs = append(hs, h)
		w[0] = float32(i)
		if err := c.save(uint64(i), h, w); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("%d files after pruning to 2", len(ents))
	}
	if _, ok := c.load(hs[0], Hash{}); ok {
		t.Fatal("pruned checkpoint loaded")
	}
	w[0] = 3
	root := Hash(rootOf(w, 4))
	got, ok := c.load(hs[2], root)
	if !ok || got[0] != 3 {
		t.Fatalf("load newest: %v %v", got, ok)
	}
	if _, ok := c.load(hs[2], Hash{1}); ok {
		t.Fatal("checkpoint loaded for a different state root")
	}
	// A reopened checkpointer finds the files; a corrupt one is ignored; a
	// leftover temporary file is removed.
	os.WriteFile(filepath.Join(dir, ckptName(3, hs[2])), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, ckptPrefix+"x.ckpt.123.tmp"), nil, 0o644)
	c2, err := newCheckpointer(dir, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.load(hs[2], root); ok {
		t.Fatal("corrupt checkpoint loaded")
	}
	if _, err := os.Stat(filepath.Join(dir, ckptPrefix+"x.ckpt.123.tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
	mem, _ := newCheckpointer("", 2, 4)
	for i := 1; i <= 3; i++ {
		mem.save(uint64(i), Hash{byte(i)}, w)
	}
	if len(mem.mem) != 2 {
		t.Fatalf("memory checkpoints: %d, want 2", len(mem.mem))
	}
	if _, ok := mem.mem[Hash{1}]; ok {
		t.Fatal("oldest memory checkpoint kept")
	}
}

func rootOf(w []float32, chunk int) [32]byte { return state.Root(w, chunk) }

func TestNilArgumentsNoPanic(t *testing.T) {
	p := DevnetParams()
	checks := []struct {
		name string
		err  error
	}{
		{"CheckTxSanity nil params", CheckTxSanity(nil, &Tx{})},
		{"CheckHeaderSanity nil header", CheckHeaderSanity(p, nil, 0, 0)},
		{"CheckBlockSanity nil params", CheckBlockSanity(nil, &Block{}, 0, 0)},
		{"CheckHeaderContext nil parent", CheckHeaderContext(p, &Header{}, nil, 0)},
		{"CheckTxSignatures nil tx", CheckTxSignatures(nil, nil, Hash{})},
	}
	for _, c := range checks {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, _, err := CheckTxInputs(p, &Tx{}, nil, 0); err == nil {
		t.Error("CheckTxInputs nil view: no error")
	}
	if _, _, err := NewUtxoView(nil).Lookup(OutPoint{}); err != nil {
		t.Errorf("lookup in an empty view: %v", err)
	}
}
