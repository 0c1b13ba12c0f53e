package chain

import (
	"bytes"
	"slices"
	"sync"
)

// ErrNotFound is returned (wrapped in a RuleError) by a Store for a block,
// undo record or state that it does not hold.
const ErrNotFound = ErrorKind("ErrNotFound")

// ChainState is what a store records about the main chain.
type ChainState struct {
	Tip    Hash
	Height uint64
	Supply uint64 // Σ values of the UTXO set
}

// StateUpdate is one connected or disconnected block. A Store applies it
// atomically: the UTXO delta, the undo record (written on connect, deleted
// on disconnect), the block's status and the new chain state all become
// durable together or not at all.
type StateUpdate struct {
	Block   Hash
	Connect bool        // false: disconnect
	Status  BlockStatus // the block's status after the update
	State   ChainState  // the chain state after the update
	Delta   UtxoDelta
	Undo    []byte // connect only: EncodeUndo of the outputs the block spent
	// NewBlock, on a connect, is the block itself if it is not stored yet:
	// the store writes it (as PutBlock would) in the same transaction.
	NewBlock *Block
}

// Store is the chain's persistent storage. chain/store implements it on
// bbolt; MemStore is an in-memory twin for tests. A Store must be safe for
// concurrent use; BlockChain serializes its writes.
type Store interface {
	UtxoFetcher

	// PutBlock durably stores a block (header and body) with its status.
	// Storing a block again only updates its status.
	PutBlock(blk *Block, status BlockStatus) error
	// SetStatus updates a stored block's status.
	SetStatus(hash Hash, status BlockStatus) error
	// ForEachHeader calls fn for every stored block's header and status,
	// in no particular order.
	ForEachHeader(fn func(h *Header, status BlockStatus) error) error
	// FetchBlock returns a stored block (ErrNotFound if absent).
	FetchBlock(hash Hash) (*Block, error)
	// BlockSize returns the length of a stored block's encoding without
	// copying or decoding it (ErrNotFound if absent).
	BlockSize(hash Hash) (int, error)
	// FetchBlockBytes returns a stored block's encoding (Block.Bytes) as
	// stored, without decoding it (ErrNotFound if absent).
	FetchBlockBytes(hash Hash) ([]byte, error)
	// FetchUndo returns a connected block's undo record (ErrNotFound).
	FetchUndo(hash Hash) ([]byte, error)
	// State returns the chain state; ok is false for a fresh store.
	State() (st ChainState, ok bool, err error)
	// Commit applies one connected or disconnected block atomically.
	Commit(u *StateUpdate) error
	// UtxosByAddress returns the unspent outputs paying addr, sorted by
	// outpoint key.
	UtxosByAddress(addr Address) ([]Utxo, error)
	// ForEachUtxo calls fn for every unspent output, in key order.
	ForEachUtxo(fn func(u Utxo) error) error
}

// MemStore is an in-memory Store for tests and benchmarks.
type MemStore struct {
	mu      sync.RWMutex
	blocks  map[Hash][]byte
	status  map[Hash]BlockStatus
	undo    map[Hash][]byte
	utxos   map[OutPoint]UtxoEntry
	state   ChainState
	hasTip  bool
	commits int
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		blocks: make(map[Hash][]byte),
		status: make(map[Hash]BlockStatus),
		undo:   make(map[Hash][]byte),
		utxos:  make(map[OutPoint]UtxoEntry),
	}
}

// FetchUtxos implements UtxoFetcher.
func (m *MemStore) FetchUtxos(ops []OutPoint) (map[OutPoint]UtxoEntry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[OutPoint]UtxoEntry, len(ops))
	for _, op := range ops {
		if e, ok := m.utxos[op]; ok {
			out[op] = e
		}
	}
	return out, nil
}

// PutBlock implements Store.
func (m *MemStore) PutBlock(blk *Block, status BlockStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := blk.Hash()
	if _, ok := m.blocks[h]; !ok {
		m.blocks[h] = blk.Bytes()
	}
	m.status[h] = status
	return nil
}

// SetStatus implements Store.
func (m *MemStore) SetStatus(hash Hash, status BlockStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blocks[hash]; !ok {
		return ruleError(ErrNotFound, "set status: block %s not stored", hash)
	}
	m.status[hash] = status
	return nil
}

// ForEachHeader implements Store.
func (m *MemStore) ForEachHeader(fn func(h *Header, status BlockStatus) error) error {
	m.mu.RLock()
	type rec struct {
		h Header
		s BlockStatus
	}
	recs := make([]rec, 0, len(m.blocks))
	for hash, raw := range m.blocks {
		h, err := DecodeHeader(raw[:HeaderSize])
		if err != nil {
			m.mu.RUnlock()
			return err
		}
		recs = append(recs, rec{h, m.status[hash]})
	}
	m.mu.RUnlock()
	for i := range recs {
		if err := fn(&recs[i].h, recs[i].s); err != nil {
			return err
		}
	}
	return nil
}

// FetchBlock implements Store.
func (m *MemStore) FetchBlock(hash Hash) (*Block, error) {
	m.mu.RLock()
	raw, ok := m.blocks[hash]
	m.mu.RUnlock()
	if !ok {
		return nil, ruleError(ErrNotFound, "block %s not stored", hash)
	}
	return DecodeBlock(raw)
}

// BlockSize implements Store.
func (m *MemStore) BlockSize(hash Hash) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	raw, ok := m.blocks[hash]
	if !ok {
		return 0, ruleError(ErrNotFound, "block %s not stored", hash)
	}
	return len(raw), nil
}

// FetchBlockBytes implements Store.
func (m *MemStore) FetchBlockBytes(hash Hash) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	raw, ok := m.blocks[hash]
	if !ok {
		return nil, ruleError(ErrNotFound, "block %s not stored", hash)
	}
	return slices.Clone(raw), nil
}

// FetchUndo implements Store.
func (m *MemStore) FetchUndo(hash Hash) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.undo[hash]
	if !ok {
		return nil, ruleError(ErrNotFound, "undo for block %s not stored", hash)
	}
	return slices.Clone(u), nil
}

// State implements Store.
func (m *MemStore) State() (ChainState, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state, m.hasTip, nil
}

// Commit implements Store.
func (m *MemStore) Commit(u *StateUpdate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u.NewBlock != nil && u.Connect {
		if h := u.NewBlock.Hash(); h != u.Block {
			return ruleError(ErrStore, "commit: new block %s is not block %s", h, u.Block)
		}
		if _, ok := m.blocks[u.Block]; !ok {
			m.blocks[u.Block] = u.NewBlock.Bytes()
		}
	}
	if _, ok := m.blocks[u.Block]; !ok {
		return ruleError(ErrNotFound, "commit: block %s not stored", u.Block)
	}
	for _, r := range u.Delta.Removed {
		delete(m.utxos, r.OutPoint)
	}
	for _, a := range u.Delta.Added {
		m.utxos[a.OutPoint] = a.Entry
	}
	if u.Connect {
		m.undo[u.Block] = slices.Clone(u.Undo)
	} else {
		delete(m.undo, u.Block)
	}
	m.status[u.Block] = u.Status
	m.state = u.State
	m.hasTip = true
	m.commits++
	return nil
}

// UtxosByAddress implements Store.
func (m *MemStore) UtxosByAddress(addr Address) ([]Utxo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Utxo
	for op, e := range m.utxos {
		if e.Address == addr {
			out = append(out, Utxo{op, e})
		}
	}
	sortUtxos(out)
	return out, nil
}

// ForEachUtxo implements Store.
func (m *MemStore) ForEachUtxo(fn func(u Utxo) error) error {
	m.mu.RLock()
	all := make([]Utxo, 0, len(m.utxos))
	for op, e := range m.utxos {
		all = append(all, Utxo{op, e})
	}
	m.mu.RUnlock()
	slices.SortFunc(all, func(a, b Utxo) int {
		ka, kb := OutPointKey(a.OutPoint), OutPointKey(b.OutPoint)
		return bytes.Compare(ka[:], kb[:])
	})
	for _, u := range all {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}
