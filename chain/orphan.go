package chain

// Orphan pool defaults.
const (
	DefaultMaxOrphans     = 100
	DefaultOrphanTTL      = 3600     // seconds
	DefaultMaxOrphanBytes = 64 << 20 // serialized bytes (at least one block of MaxBlockSize is always allowed)
)

type orphanBlock struct {
	blk     *Block
	hash    Hash
	expires int64
	seq     uint64
	size    int
}

// orphanPool holds blocks whose parent is unknown, bounded by count, bytes
// and age. When full, the oldest orphans make room. Guarded by
// BlockChain.mu.
type orphanPool struct {
	max      int
	maxBytes int
	bytes    int
	ttl      int64
	seq      uint64
	byHash   map[Hash]*orphanBlock
	byParent map[Hash][]*orphanBlock
}

func newOrphanPool(max, maxBytes int, ttl int64) *orphanPool {
	if max <= 0 {
		max = DefaultMaxOrphans
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxOrphanBytes
	}
	if ttl <= 0 {
		ttl = DefaultOrphanTTL
	}
	return &orphanPool{max: max, maxBytes: maxBytes, ttl: ttl, byHash: make(map[Hash]*orphanBlock), byParent: make(map[Hash][]*orphanBlock)}
}

func (op *orphanPool) has(h Hash) bool { _, ok := op.byHash[h]; return ok }

func (op *orphanPool) len() int { return len(op.byHash) }

func (op *orphanPool) remove(o *orphanBlock) {
	delete(op.byHash, o.hash)
	op.bytes -= o.size
	parent := o.blk.Header.PrevBlock
	sibs := op.byParent[parent]
	for i, s := range sibs {
		if s == o {
			sibs = append(sibs[:i], sibs[i+1:]...)
			break
		}
	}
	if len(sibs) == 0 {
		delete(op.byParent, parent)
	} else {
		op.byParent[parent] = sibs
	}
}

// expire drops orphans whose time is up.
func (op *orphanPool) expire(now int64) {
	for _, o := range op.byHash {
		if now > o.expires {
			op.remove(o)
		}
	}
}

// add stores an orphan, evicting expired ones and then the oldest to stay
// within max and maxBytes. A block larger than maxBytes on its own is not
// kept.
func (op *orphanPool) add(blk *Block, hash Hash, now int64) {
	size := blk.SerializeSize()
	if op.has(hash) || size > op.maxBytes {
		return
	}
	op.expire(now)
	for len(op.byHash) > 0 && (len(op.byHash) >= op.max || op.bytes+size > op.maxBytes) {
		var oldest *orphanBlock
		for _, o := range op.byHash {
			if oldest == nil || o.seq < oldest.seq {
				oldest = o
			}
		}
		op.remove(oldest)
	}
	op.seq++
	o := &orphanBlock{blk: blk, hash: hash, expires: now + op.ttl, seq: op.seq, size: size}
	op.byHash[hash] = o
	op.bytes += size
	op.byParent[blk.Header.PrevBlock] = append(op.byParent[blk.Header.PrevBlock], o)
}

// takeChildren removes and returns the orphans whose parent is parent, in
// arrival order.
func (op *orphanPool) takeChildren(parent Hash) []*Block {
	kids := op.byParent[parent]
	out := make([]*Block, 0, len(kids))
	for _, o := range append([]*orphanBlock(nil), kids...) {
		out = append(out, o.blk)
		op.remove(o)
	}
	return out
}

// root walks from an orphan to the oldest orphan ancestor in the pool.
func (op *orphanPool) root(h Hash) Hash {
	for range len(op.byHash) + 1 { // bounded: hashes cannot form a cycle
		o, ok := op.byHash[h]
		if !ok {
			return h
		}
		parent := o.blk.Header.PrevBlock
		if !op.has(parent) {
			return h
		}
		h = parent
	}
	return h
}
