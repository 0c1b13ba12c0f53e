package mempool

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Defaults.
const (
	DefaultMinFeeRate = 1        // atoms per byte
	DefaultMaxBytes   = 32 << 20 // serialized bytes of all pool transactions
	DefaultMaxRejects = 20_000   // remembered rejections (about 100 bytes each)
)

// Chain is what the pool needs from the block chain (*chain.BlockChain
// implements it): the parameters, the tip, and UTXO lookups at the tip.
type Chain interface {
	Params() *chain.Params
	Tip() chain.ChainTip
	chain.UtxoFetcher
}

// Config configures a Pool.
type Config struct {
	Chain Chain
	// MinFeeRate is the lowest fee rate (atoms per serialized byte) a
	// transaction needs to enter (0: DefaultMinFeeRate).
	MinFeeRate uint64
	// MaxBytes bounds the serialized size of all pool transactions
	// (0: DefaultMaxBytes).
	MaxBytes int
	// MaxRejects bounds the remembered rejections (0: DefaultMaxRejects).
	MaxRejects int
}

// TxDesc describes a pool transaction.
type TxDesc struct {
	Tx   *chain.Tx
	ID   chain.Hash
	Fee  uint64
	Size int
	seq  uint64
	// parents are the in-pool transactions whose outputs this one spends.
	parents []chain.Hash
}

// FeeRate returns the fee per byte, rounded down.
func (d *TxDesc) FeeRate() uint64 { return d.Fee / uint64(max(d.Size, 1)) }

// Pool holds valid unconfirmed transactions. It is safe for concurrent use.
type Pool struct {
	cfg Config

	mu     sync.Mutex
	txs    map[chain.Hash]*TxDesc
	spends map[chain.OutPoint]chain.Hash // outpoint → in-pool spender
	kids   map[chain.Hash][]chain.Hash   // txid → in-pool children
	bytes  int
	seq    uint64
	// rejects: transactions rejected since the tip last moved.
	rejects rejectCache
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	if cfg.MinFeeRate == 0 {
		cfg.MinFeeRate = DefaultMinFeeRate
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxRejects <= 0 {
		cfg.MaxRejects = DefaultMaxRejects
	}
	return &Pool{
		cfg:     cfg,
		txs:     make(map[chain.Hash]*TxDesc),
		spends:  make(map[chain.OutPoint]chain.Hash),
		kids:    make(map[chain.Hash][]chain.Hash),
		rejects: newRejectCache(cfg.MaxRejects),
	}
}

func ruleErr(kind chain.ErrorKind, format string, a ...any) error {
	return chain.RuleError{Err: kind, Description: "mempool: " + sprintf(format, a...)}
}

// Add validates tx against the tip's UTXO set plus the pool's own outputs
// (chains of unconfirmed transactions are allowed) and adds it. Checks run
// cheapest first, and the signatures (the expensive part: one ed25519
// verification per input) only once the transaction is known to pay the
// minimum fee rate and to have room in the pool. Rejections are
// chain.RuleErrors: ErrCoinbaseNotInMempool, ErrAlreadyHave,
// ErrDoubleSpend (an input already spent by a pool tx), ErrInsufficientFee
// (below MinFeeRate), ErrMempoolFull (no room, and nothing with a lower fee
// rate to evict), ErrRecentlyRejected (see below), or any consensus kind
// from CheckTxSanity, CheckTxInputs and CheckTxSignatures.
//
// Rejections are remembered until the tip moves (at most MaxRejects of
// them, oldest forgotten): a reason no signature can change (sanity, fee,
// room, inputs' values and maturity, the key against the spent address)
// by txid, which excludes the signatures, so re-signing does not buy a
// second check; a bad signature by the full hash, so that a copy with a
// broken signature cannot block the real transaction. Missing inputs and
// double spends are not remembered (cheap to find again, and the first
// may resolve at any moment). A remembered transaction is refused at once
// with ErrRecentlyRejected.
func (p *Pool) Add(tx *chain.Tx) (*TxDesc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.add(tx)
}

func (p *Pool) add(tx *chain.Tx) (*TxDesc, error) {
	if tx == nil {
		return nil, ruleErr(chain.ErrNoTxInputs, "nil transaction")
	}
	if tx.IsCoinbase() {
		return nil, ruleErr(chain.ErrCoinbaseNotInMempool, "tx %s is a coinbase", tx.TxID())
	}
	id := tx.TxID()
	if _, ok := p.txs[id]; ok {
		return nil, ruleErr(chain.ErrAlreadyHave, "tx %s already in the pool", id)
	}
	full := tx.Hash()
	if k, ok := p.rejects.lookup(id, full); ok {
		return nil, ruleErr(chain.ErrRecentlyRejected, "tx %s was rejected since the tip last moved (%s)", id, k)
	}
	d, evict, err := p.check(tx, id)
	if err != nil {
		p.rejects.note(id, full, err)
		return nil, err
	}
	for _, e := range evict {
		p.removeOne(e)
	}
	p.seq++
	d.seq = p.seq
	p.txs[id] = d
	p.bytes += d.Size
	for i := range tx.Inputs {
		p.spends[tx.Inputs[i].PrevOut] = id
	}
	for _, par := range d.parents {
		p.kids[par] = append(p.kids[par], id)
	}
	return d, nil
}

// check validates tx for the pool, signatures last, and returns its entry
// and the transactions to evict to make room.
func (p *Pool) check(tx *chain.Tx, id chain.Hash) (*TxDesc, []chain.Hash, error) {
	params := p.cfg.Chain.Params()
	if err := chain.CheckTxSanity(params, tx); err != nil {
		return nil, nil, err
	}
	var parents []chain.Hash
	for i := range tx.Inputs {
		op := tx.Inputs[i].PrevOut
		if other, ok := p.spends[op]; ok {
			return nil, nil, ruleErr(chain.ErrDoubleSpend, "tx %s input %d: %s already spent by pool tx %s", id, i, op, other)
		}
		if _, ok := p.txs[op.TxID]; ok && !slices.Contains(parents, op.TxID) {
			parents = append(parents, op.TxID)
		}
	}
	tip := p.cfg.Chain.Tip()
	view := chain.NewUtxoView(&poolFetcher{p: p, chain: p.cfg.Chain, height: tip.Height + 1})
	fee, spent, err := chain.CheckTxInputs(params, tx, view, tip.Height+1)
	if err != nil {
		return nil, nil, err
	}
	size := tx.SerializeSize()
	if hi, lo := bits.Mul64(p.cfg.MinFeeRate, uint64(size)); hi != 0 || fee < lo {
		return nil, nil, ruleErr(chain.ErrInsufficientFee, "tx %s: fee %d for %d bytes, below %d atoms/byte", id, fee, size, p.cfg.MinFeeRate)
	}
	d := &TxDesc{Tx: tx, ID: id, Fee: fee, Size: size, parents: parents}
	var evict []chain.Hash
	if p.bytes+size > p.cfg.MaxBytes {
		var ok bool
		if evict, ok = p.evictionSet(d); !ok {
			return nil, nil, ruleErr(chain.ErrMempoolFull, "tx %s: pool full (%d of %d bytes) and no lower fee rate to evict", id, p.bytes, p.cfg.MaxBytes)
		}
	}
	if err := chain.CheckTxSignatures(tx, spent, params.GenesisHash); err != nil {
		return nil, nil, err
	}
	return d, evict, nil
}

// rejectCache remembers rejected transactions by txid or full hash (see
// Add), at most max entries, oldest forgotten first.
type rejectCache struct {
	max   int
	kinds map[rejectKey]chain.ErrorKind
	order []rejectKey // ring: next is the oldest once full
	next  int
}

type rejectKey struct {
	h    chain.Hash
	full bool // h is the full hash (signatures included), else the txid
}

func newRejectCache(max int) rejectCache {
	return rejectCache{max: max, kinds: make(map[rejectKey]chain.ErrorKind)}
}

func (c *rejectCache) lookup(id, full chain.Hash) (chain.ErrorKind, bool) {
	if k, ok := c.kinds[rejectKey{id, false}]; ok {
		return k, true
	}
	k, ok := c.kinds[rejectKey{full, true}]
	return k, ok
}

// note remembers a rejection if its reason lasts until the tip moves.
func (c *rejectCache) note(id, full chain.Hash, err error) {
	var kind chain.ErrorKind
	if !errors.As(err, &kind) {
		return
	}
	var key rejectKey
	switch kind {
	case chain.ErrMissingTxOut, chain.ErrDoubleSpend, chain.ErrAlreadyHave, chain.ErrStore, chain.ErrNotFound:
		return // may resolve at any moment, or cheap to find again
	case chain.ErrBadSignature:
		key = rejectKey{full, true}
	default:
		// Every other check covers only what the txid commits to
		// (inputs with their keys, outputs, payload) and the state
		// of the tip and the pool.
		key = rejectKey{id, false}
	}
	if _, ok := c.kinds[key]; ok {
		return
	}
	if len(c.order) < c.max {
		c.order = append(c.order, key)
	} else {
		delete(c.kinds, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % c.max
	}
	c.kinds[key] = kind
}

func (c *rejectCache) clear() {
	clear(c.kinds)
	c.order = c.order[:0]
	c.next = 0
}

// Rejected reports whether the pool remembers a rejection of tx (see Add).
func (p *Pool) Rejected(tx *chain.Tx) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.rejects.lookup(tx.TxID(), tx.Hash())
	return ok
}

// lowerRate reports a.Fee/a.Size < b.Fee/b.Size, exactly.
func lowerRate(a, b *TxDesc) bool {
	h1, l1 := bits.Mul64(a.Fee, uint64(b.Size))
	h2, l2 := bits.Mul64(b.Fee, uint64(a.Size))
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// evictionSet picks the lowest fee-rate transactions (with their in-pool
// descendants) that free enough room for d, all with a lower fee rate than
// d and none an ancestor of d.
func (p *Pool) evictionSet(d *TxDesc) ([]chain.Hash, bool) {
	all := p.sorted()
	slices.Reverse(all) // lowest fee rate first
	ancestors := p.ancestors(d.parents)
	chosen := make(map[chain.Hash]bool)
	var order []chain.Hash
	freed := 0
	for _, e := range all {
		if p.bytes-freed+d.Size <= p.cfg.MaxBytes {
			break
		}
		if chosen[e.ID] {
			continue
		}
		if !lowerRate(e, d) {
			return nil, false
		}
		for _, x := range append([]chain.Hash{e.ID}, p.descendants(e.ID)...) {
			if chosen[x] {
				continue
			}
			if ancestors[x] {
				return nil, false
			}
			chosen[x] = true
			order = append(order, x)
			freed += p.txs[x].Size
		}
	}
	if p.bytes-freed+d.Size > p.cfg.MaxBytes {
		return nil, false
	}
	return order, true
}

func (p *Pool) ancestors(parents []chain.Hash) map[chain.Hash]bool {
	out := make(map[chain.Hash]bool)
	stack := slices.Clone(parents)
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if out[h] {
			continue
		}
		out[h] = true
		if d, ok := p.txs[h]; ok {
			stack = append(stack, d.parents...)
		}
	}
	return out
}

func (p *Pool) descendants(id chain.Hash) []chain.Hash {
	var out []chain.Hash
	seen := map[chain.Hash]bool{id: true}
	queue := slices.Clone(p.kids[id])
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if seen[h] {
			continue
		}
		seen[h] = true
		out = append(out, h)
		queue = append(queue, p.kids[h]...)
	}
	return out
}

// removeOne removes a single transaction (not its descendants).
func (p *Pool) removeOne(id chain.Hash) {
	d, ok := p.txs[id]
	if !ok {
		return
	}
	delete(p.txs, id)
	p.bytes -= d.Size
	for i := range d.Tx.Inputs {
		op := d.Tx.Inputs[i].PrevOut
		if p.spends[op] == id {
			delete(p.spends, op)
		}
	}
	for _, par := range d.parents {
		k := slices.DeleteFunc(p.kids[par], func(h chain.Hash) bool { return h == id })
		if len(k) == 0 {
			delete(p.kids, par)
		} else {
			p.kids[par] = k
		}
	}
	// Children keep their parent link only while the parent is in the pool.
	for _, c := range p.kids[id] {
		if cd, ok := p.txs[c]; ok {
			cd.parents = slices.DeleteFunc(cd.parents, func(h chain.Hash) bool { return h == id })
		}
	}
	delete(p.kids, id)
}

// removeWithDescendants removes a transaction and everything spending it.
func (p *Pool) removeWithDescendants(id chain.Hash) {
	desc := p.descendants(id)
	p.removeOne(id)
	for _, d := range desc {
		p.removeOne(d)
	}
}

// Remove drops a transaction and its in-pool descendants.
func (p *Pool) Remove(id chain.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeWithDescendants(id)
}

// Has reports whether the pool holds txid id.
func (p *Pool) Has(id chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txs[id]
	return ok
}

// Get returns a pool transaction.
func (p *Pool) Get(id chain.Hash) (*chain.Tx, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.txs[id]; ok {
		return d.Tx, true
	}
	return nil, false
}

// SpentBy returns the pool transaction spending op, if any (wallets use it
// to skip coins that a pending payment already spends).
func (p *Pool) SpentBy(op chain.OutPoint) (chain.Hash, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.spends[op]
	return h, ok
}

// Count returns the number of pool transactions; Bytes their total size.
func (p *Pool) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.txs)
}

// Bytes returns the total serialized size of the pool's transactions.
func (p *Pool) Bytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// sorted returns the entries by fee rate, highest first (ties: older first).
func (p *Pool) sorted() []*TxDesc {
	all := make([]*TxDesc, 0, len(p.txs))
	for _, d := range p.txs {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b *TxDesc) int {
		switch {
		case lowerRate(b, a):
			return -1
		case lowerRate(a, b):
			return 1
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return all
}

// Template selects transactions for a block: highest fee rate first, a
// transaction only after its in-pool parents, within maxBytes of
// serialized transactions. It returns them in a valid block order and
// their total fee.
func (p *Pool) Template(maxBytes int) ([]*chain.Tx, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	all := p.sorted()
	in := make(map[chain.Hash]bool, len(all))
	visited := make(map[chain.Hash]bool, len(all))
	var out []*chain.Tx
	var fees uint64
	used := 0
	// include adds d if its parents are in and it fits, then any child
	// that was already passed over (it has a higher fee rate than the
	// current position) and was waiting for d. One pass, O(n log n).
	var include func(d *TxDesc)
	include = func(d *TxDesc) {
		if in[d.ID] || used+d.Size > maxBytes {
			return
		}
		for _, par := range d.parents {
			if !in[par] {
				return
			}
		}
		in[d.ID] = true
		out = append(out, d.Tx)
		fees += d.Fee
		used += d.Size
		for _, k := range p.kids[d.ID] {
			if visited[k] {
				include(p.txs[k])
			}
		}
	}
	for _, d := range all {
		visited[d.ID] = true
		include(d)
	}
	return out, fees
}

// Txs returns the pool's transactions in arrival order.
func (p *Pool) Txs() []*chain.Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.txsBySeq()
}

func (p *Pool) txsBySeq() []*chain.Tx {
	all := make([]*TxDesc, 0, len(p.txs))
	for _, d := range p.txs {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b *TxDesc) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	out := make([]*chain.Tx, len(all))
	for i, d := range all {
		out[i] = d.Tx
	}
	return out
}

// HandleTipEvent updates the pool after the tip moved (subscribe it with
// BlockChain.Subscribe): transactions of connected blocks leave the pool
// with whatever conflicts with them; after a reorg, the transactions of
// the disconnected blocks and the old pool are validated again against the
// new tip, oldest first, and those still valid stay or come back.
func (p *Pool) HandleTipEvent(ev chain.TipEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rejects.clear() // a new tip can make a rejected transaction valid
	if len(ev.Disconnected) == 0 {
		for _, blk := range ev.Connected {
			for _, tx := range blk.Txs[1:] {
				id := tx.TxID()
				if _, ok := p.txs[id]; ok {
					// Children stay: their parent's outputs are now confirmed.
					p.removeOne(id)
				}
				for i := range tx.Inputs {
					if other, ok := p.spends[tx.Inputs[i].PrevOut]; ok {
						p.removeWithDescendants(other) // double spend of a mined tx
					}
				}
			}
		}
		return
	}
	var again []*chain.Tx
	for i := len(ev.Disconnected) - 1; i >= 0; i-- {
		again = append(again, ev.Disconnected[i].Txs[1:]...)
	}
	again = append(again, p.txsBySeq()...)
	clear(p.txs)
	clear(p.spends)
	clear(p.kids)
	p.bytes = 0
	for _, tx := range again {
		p.add(tx) // invalid now (mined, conflicting, immature): dropped
	}
}

// poolFetcher serves outputs of pool transactions (as if confirmed in the
// next block), then the chain's UTXO set.
type poolFetcher struct {
	p      *Pool
	chain  Chain
	height uint64
}

func (f *poolFetcher) FetchUtxos(ops []chain.OutPoint) (map[chain.OutPoint]chain.UtxoEntry, error) {
	out := make(map[chain.OutPoint]chain.UtxoEntry, len(ops))
	var rest []chain.OutPoint
	for _, op := range ops {
		if d, ok := f.p.txs[op.TxID]; ok {
			if int(op.Index) < len(d.Tx.Outputs) {
				o := d.Tx.Outputs[op.Index]
				out[op] = chain.UtxoEntry{Value: o.Value, Address: o.Address, Height: f.height}
			}
			continue
		}
		rest = append(rest, op)
	}
	if len(rest) == 0 {
		return out, nil
	}
	got, err := f.chain.FetchUtxos(rest)
	if err != nil {
		return nil, err
	}
	for op, e := range got {
		out[op] = e
	}
	return out, nil
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
