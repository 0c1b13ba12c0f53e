package chain

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// UtxoEntry is an unspent transaction output with what validation needs to
// spend it.
type UtxoEntry struct {
	Value    uint64
	Address  Address
	Height   uint64 // height of the block that created it
	Coinbase bool   // created by a coinbase (subject to CoinbaseMaturity)
}

// Utxo is an outpoint and its entry.
type Utxo struct {
	OutPoint OutPoint
	Entry    UtxoEntry
}

// Sizes of the UTXO encodings used by stores and undo data.
const (
	OutPointKeySize  = HashSize + 4
	UtxoEntrySize    = 8 + AddressSize + 8 + 1
	utxoRecordSize   = OutPointKeySize + UtxoEntrySize
	maxUndoEntries   = MaxBlockTxs * 4 // sanity bound for decoding undo data
	utxoFlagCoinbase = 1
)

// OutPointKey is the fixed-size key of an outpoint: txid ‖ index (u32 big
// endian, so a tx's outputs sort in index order).
func OutPointKey(op OutPoint) [OutPointKeySize]byte {
	var k [OutPointKeySize]byte
	copy(k[:], op.TxID[:])
	binary.BigEndian.PutUint32(k[HashSize:], op.Index)
	return k
}

// OutPointFromKey is the inverse of OutPointKey.
func OutPointFromKey(k []byte) (OutPoint, error) {
	var op OutPoint
	if len(k) != OutPointKeySize {
		return op, ruleError(ErrStore, "outpoint key: %d bytes, want %d", len(k), OutPointKeySize)
	}
	copy(op.TxID[:], k)
	op.Index = binary.BigEndian.Uint32(k[HashSize:])
	return op, nil
}

// EncodeUtxoEntry returns the UtxoEntrySize-byte encoding of e.
func EncodeUtxoEntry(e UtxoEntry) [UtxoEntrySize]byte {
	var b [UtxoEntrySize]byte
	binary.LittleEndian.PutUint64(b[0:], e.Value)
	copy(b[8:], e.Address[:])
	binary.LittleEndian.PutUint64(b[8+AddressSize:], e.Height)
	if e.Coinbase {
		b[UtxoEntrySize-1] = utxoFlagCoinbase
	}
	return b
}

// DecodeUtxoEntry is the inverse of EncodeUtxoEntry.
func DecodeUtxoEntry(b []byte) (UtxoEntry, error) {
	var e UtxoEntry
	if len(b) != UtxoEntrySize {
		return e, ruleError(ErrStore, "utxo entry: %d bytes, want %d", len(b), UtxoEntrySize)
	}
	if b[UtxoEntrySize-1]&^utxoFlagCoinbase != 0 {
		return e, ruleError(ErrStore, "utxo entry: unknown flags %#x", b[UtxoEntrySize-1])
	}
	e.Value = binary.LittleEndian.Uint64(b[0:])
	copy(e.Address[:], b[8:])
	e.Height = binary.LittleEndian.Uint64(b[8+AddressSize:])
	e.Coinbase = b[UtxoEntrySize-1]&utxoFlagCoinbase != 0
	return e, nil
}

// EncodeUndo encodes a block's undo data: the outputs it spent, in the
// order it spent them (u32 count, then outpoint key ‖ entry each).
func EncodeUndo(spent []Utxo) []byte {
	b := make([]byte, 0, 4+len(spent)*utxoRecordSize)
	b = appendU32(b, uint32(len(spent)))
	for _, u := range spent {
		k := OutPointKey(u.OutPoint)
		e := EncodeUtxoEntry(u.Entry)
		b = append(b, k[:]...)
		b = append(b, e[:]...)
	}
	return b
}

// DecodeUndo is the inverse of EncodeUndo.
func DecodeUndo(b []byte) ([]Utxo, error) {
	if len(b) < 4 {
		return nil, ruleError(ErrStore, "undo data: %d bytes, want at least 4", len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > maxUndoEntries || uint64(len(b)-4) != uint64(n)*utxoRecordSize {
		return nil, ruleError(ErrStore, "undo data: %d entries do not fit %d bytes", n, len(b))
	}
	out := make([]Utxo, n)
	p := b[4:]
	for i := range out {
		op, err := OutPointFromKey(p[:OutPointKeySize])
		if err != nil {
			return nil, err
		}
		e, err := DecodeUtxoEntry(p[OutPointKeySize:utxoRecordSize])
		if err != nil {
			return nil, err
		}
		out[i] = Utxo{OutPoint: op, Entry: e}
		p = p[utxoRecordSize:]
	}
	return out, nil
}

// UtxoFetcher reads the UTXO set a view is layered on.
type UtxoFetcher interface {
	// FetchUtxos returns the entries of the outpoints in ops that are
	// unspent; missing outpoints are absent from the map.
	FetchUtxos(ops []OutPoint) (map[OutPoint]UtxoEntry, error)
}

// UtxoDelta is the net change a block (or several) made to the UTXO set:
// outputs added and outputs removed (with the entries they had), each
// sorted by outpoint key so that a delta has one canonical form.
type UtxoDelta struct {
	Added   []Utxo
	Removed []Utxo
}

// SupplyChange returns Σ added values and Σ removed values.
func (d *UtxoDelta) SupplyChange() (added, removed uint64) {
	for _, u := range d.Added {
		added += u.Entry.Value
	}
	for _, u := range d.Removed {
		removed += u.Entry.Value
	}
	return added, removed
}

type viewEntry struct {
	entry  UtxoEntry
	exists bool // false: known to be spent or absent
}

// UtxoView is a scratch overlay on a UtxoFetcher: lookups fall through to
// the base, spends and additions stay in the view. Validation connects and
// disconnects blocks in a view and writes the net change (TakeDelta) to the
// store only when everything passed. A view is not safe for concurrent use.
type UtxoView struct {
	base    UtxoFetcher
	entries map[OutPoint]viewEntry
	journal map[OutPoint]viewEntry // state before the first change since TakeDelta
}

// NewUtxoView returns an empty view over base (which may be nil: an empty
// UTXO set).
func NewUtxoView(base UtxoFetcher) *UtxoView {
	return &UtxoView{base: base, entries: make(map[OutPoint]viewEntry), journal: make(map[OutPoint]viewEntry)}
}

// Prefetch loads the outpoints the view has not seen from the base in one
// call.
func (v *UtxoView) Prefetch(ops []OutPoint) error {
	var need []OutPoint
	for _, op := range ops {
		if _, ok := v.entries[op]; !ok {
			need = append(need, op)
		}
	}
	if len(need) == 0 || v.base == nil {
		for _, op := range need {
			v.entries[op] = viewEntry{}
		}
		return nil
	}
	got, err := v.base.FetchUtxos(need)
	if err != nil {
		return err
	}
	for _, op := range need {
		e, ok := got[op]
		v.entries[op] = viewEntry{entry: e, exists: ok}
	}
	return nil
}

// Lookup returns the unspent entry of op as of the view.
func (v *UtxoView) Lookup(op OutPoint) (UtxoEntry, bool, error) {
	ve, ok := v.entries[op]
	if !ok {
		if err := v.Prefetch([]OutPoint{op}); err != nil {
			return UtxoEntry{}, false, err
		}
		ve = v.entries[op]
	}
	return ve.entry, ve.exists, nil
}

func (v *UtxoView) set(op OutPoint, ve viewEntry) {
	if _, ok := v.journal[op]; !ok {
		v.journal[op] = v.entries[op] // entries[op] was loaded by the caller
	}
	v.entries[op] = ve
}

// Spend marks op spent and returns the entry it had.
func (v *UtxoView) Spend(op OutPoint) (UtxoEntry, bool, error) {
	e, ok, err := v.Lookup(op)
	if err != nil || !ok {
		return e, false, err
	}
	v.set(op, viewEntry{})
	return e, true, nil
}

// Add adds an unspent output. It reports false (and changes nothing) if op
// is already unspent in the view.
func (v *UtxoView) Add(op OutPoint, e UtxoEntry) (bool, error) {
	_, ok, err := v.Lookup(op)
	if err != nil || ok {
		return false, err
	}
	v.set(op, viewEntry{entry: e, exists: true})
	return true, nil
}

// TakeDelta returns the net change since the previous TakeDelta (or the
// view's creation) and starts a new one.
func (v *UtxoView) TakeDelta() UtxoDelta {
	var d UtxoDelta
	for op, before := range v.journal {
		now := v.entries[op]
		switch {
		case before.exists && now.exists && before.entry == now.entry:
		case before.exists && now.exists:
			d.Removed = append(d.Removed, Utxo{op, before.entry})
			d.Added = append(d.Added, Utxo{op, now.entry})
		case before.exists:
			d.Removed = append(d.Removed, Utxo{op, before.entry})
		case now.exists:
			d.Added = append(d.Added, Utxo{op, now.entry})
		}
	}
	clear(v.journal)
	sortUtxos(d.Added)
	sortUtxos(d.Removed)
	return d
}

func sortUtxos(us []Utxo) {
	slices.SortFunc(us, func(a, b Utxo) int {
		ka, kb := OutPointKey(a.OutPoint), OutPointKey(b.OutPoint)
		return bytes.Compare(ka[:], kb[:])
	})
}

// blockOutPoints lists the outpoints a block spends (non-coinbase inputs),
// for Prefetch.
func blockInputs(blk *Block) []OutPoint {
	var ops []OutPoint
	for _, tx := range blk.Txs {
		if tx.IsCoinbase() {
			continue
		}
		for i := range tx.Inputs {
			ops = append(ops, tx.Inputs[i].PrevOut)
		}
	}
	return ops
}

// UtxoSetHash is a commitment to a UTXO set: TaggedHash over the records
// (outpoint key ‖ entry) in key order. Tests compare sets with it.
func UtxoSetHash(set []Utxo) Hash {
	s := slices.Clone(set)
	sortUtxos(s)
	buf := make([]byte, 0, len(s)*utxoRecordSize)
	for _, u := range s {
		k := OutPointKey(u.OutPoint)
		e := EncodeUtxoEntry(u.Entry)
		buf = append(buf, k[:]...)
		buf = append(buf, e[:]...)
	}
	return TaggedHash("gradientcoin/utxo-set", buf)
}
