package gpu

// SearchReference is the pure-Go twin of a GPU search with FindAll set: it
// tries the nonces start, start+1, ..., start+count-1 (mod 2^64, so a range
// may wrap past 2^64-1 to 0) launch by launch exactly as the kernel does
// (host precompute per high word, per-nonce rounds, early reject) and returns
// the valid nonces in search order, at most maxHits of them (all when
// maxHits <= 0). It is slow (one core, no SHA extensions) and meant for
// tests and known-answer vectors.
func SearchReference(job Job, start, count uint64, maxHits int) []uint64 {
	var hits []uint64
	for count > 0 {
		s := nextSpan(start, count, MaxBatch)
		p := newPrecomp(&job, s.hi)
		for i := uint32(0); i < s.n; i++ {
			if ok, _ := p.try(s.lo + i); ok {
				hits = append(hits, uint64(s.hi)<<32|uint64(s.lo+i))
				if maxHits > 0 && len(hits) == maxHits {
					return hits
				}
			}
		}
		start += uint64(s.n)
		count -= uint64(s.n)
	}
	return hits
}
