package node

import (
	"fmt"
	"sort"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/net/p2p"
)

// mempoolAdapter adapts *mempool.Pool to p2p.Mempool.
type mempoolAdapter struct{ p *mempool.Pool }

func (a mempoolAdapter) HaveTx(id chain.Hash) bool              { return a.p.Has(id) }
func (a mempoolAdapter) TxByID(id chain.Hash) (*chain.Tx, bool) { return a.p.Get(id) }
func (a mempoolAdapter) ProcessTx(tx *chain.Tx) error           { _, err := a.p.Add(tx); return err }

// Bounds of the contribution pool.
const (
	poolMaxDepth = 6        // keep contributions for parents down to tip height − this
	poolMaxBytes = 64 << 20 // total bytes held
)

// contribPool holds contributions heard over gossip (pooled mode), this
// node's own (so peers can fetch them while rebuilding a compact block) and
// those of recently connected blocks (for relaying peers). It implements
// p2p.ContributionPool.
type contribPool struct {
	bc *chain.BlockChain
	r  state.Rules

	mu    sync.Mutex
	byH   map[chain.Hash]*poolEntry
	bytes int
	seq   uint64
}

type poolEntry struct {
	raw    []byte
	parent chain.Hash
	height uint64 // parent height
	key    [32]byte
	seq    uint64
}

func newContribPool(bc *chain.BlockChain) *contribPool {
	return &contribPool{bc: bc, r: bc.Params().Training, byH: make(map[chain.Hash]*poolEntry)}
}

// HaveContribution implements p2p.ContributionPool.
func (p *contribPool) HaveContribution(h chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.byH[h]
	return ok
}

// Contribution implements p2p.ContributionPool.
func (p *contribPool) Contribution(h chain.Hash) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byH[h]
	if !ok {
		return nil, false
	}
	return e.raw, true
}

// AddContribution implements p2p.ContributionPool: the contribution must
// verify (format, parameters, signature) and be for parent, a main-chain
// block no deeper than poolMaxDepth below the tip (else it is ignored).
func (p *contribPool) AddContribution(parent chain.Hash, raw []byte) error {
	c, err := state.VerifyContribution(p.r, raw)
	if err != nil {
		return err
	}
	if chain.Hash(c.Parent) != parent {
		return fmt.Errorf("contribution for parent %x announced for %s: %w", c.Parent[:8], parent, p2p.ErrIgnore)
	}
	return p.add(parent, c.PubKey, raw)
}

func (p *contribPool) add(parent chain.Hash, key [32]byte, raw []byte) error {
	hdr, ok := p.bc.HeaderByHash(parent)
	if !ok || !p.bc.IsMainChain(parent) {
		return fmt.Errorf("contribution for parent %s, not on our main chain: %w", parent, p2p.ErrIgnore)
	}
	tip := p.bc.Tip().Height
	if hdr.Height+poolMaxDepth < tip {
		return fmt.Errorf("contribution for parent %s at height %d, tip %d: stale: %w", parent, hdr.Height, tip, p2p.ErrIgnore)
	}
	h := chain.ContributionHash(raw)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.byH[h]; dup {
		return fmt.Errorf("contribution %s: duplicate: %w", h, p2p.ErrIgnore)
	}
	if p.bytes+len(raw) > poolMaxBytes {
		p.evictLocked(len(raw))
		if p.bytes+len(raw) > poolMaxBytes {
			return fmt.Errorf("contribution pool full: %w", p2p.ErrIgnore)
		}
	}
	p.seq++
	p.byH[h] = &poolEntry{raw: raw, parent: parent, height: hdr.Height, key: key, seq: p.seq}
	p.bytes += len(raw)
	return nil
}

// addOwn keeps one of this node's contributions (already verified).
func (p *contribPool) addOwn(parent chain.Hash, key [32]byte, raw []byte) {
	p.add(parent, key, raw)
}

// forParent returns up to max contributions for parent, oldest first,
// at most one per contributor key, excluding keys in skip.
func (p *contribPool) forParent(parent chain.Hash, max int, skip map[[32]byte]bool) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var es []*poolEntry
	for _, e := range p.byH {
		if e.parent == parent && !skip[e.key] {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	seen := make(map[[32]byte]bool)
	var out [][]byte
	for _, e := range es {
		if len(out) >= max {
			break
		}
		if seen[e.key] {
			continue
		}
		seen[e.key] = true
		out = append(out, e.raw)
	}
	return out
}

// count returns the number of contributions held for parent.
func (p *contribPool) count(parent chain.Hash) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := 0
	for _, e := range p.byH {
		if e.parent == parent {
			k++
		}
	}
	return k
}

// prune drops contributions whose parent is more than poolMaxDepth below
// the tip height.
func (p *contribPool) prune(tipHeight uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h, e := range p.byH {
		if e.height+poolMaxDepth < tipHeight {
			delete(p.byH, h)
			p.bytes -= len(e.raw)
		}
	}
}

// evictLocked drops the oldest entries until need more bytes fit.
func (p *contribPool) evictLocked(need int) {
	es := make([]chain.Hash, 0, len(p.byH))
	for h := range p.byH {
		es = append(es, h)
	}
	sort.Slice(es, func(i, j int) bool { return p.byH[es[i]].seq < p.byH[es[j]].seq })
	for _, h := range es {
		if p.bytes+need <= poolMaxBytes {
			return
		}
		p.bytes -= len(p.byH[h].raw)
		delete(p.byH, h)
	}
}

// len returns the number of contributions held.
func (p *contribPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byH)
}
