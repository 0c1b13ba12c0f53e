package gpu

// span is the nonces of one kernel launch: high word hi, low words
// lo..lo+n-1. A span never crosses a multiple of 2^32 (the low word does not
// wrap), so the high word, and W7, is fixed per launch.
type span struct {
	hi, lo uint32
	n      uint32
}

func (s span) first() uint64 { return uint64(s.hi)<<32 | uint64(s.lo) }

// nextSpan returns the first launch of the nonces start, start+1, ...,
// start+left-1 (mod 2^64), at most max nonces (1 <= max <= MaxBatch).
func nextSpan(start, left uint64, max uint32) span {
	n := uint64(max)
	if left < n {
		n = left
	}
	if room := 1<<32 - uint64(uint32(start)); room < n {
		n = room
	}
	return span{hi: uint32(start >> 32), lo: uint32(start), n: uint32(n)}
}

// geometry is a launch shape for the search kernel: grid blocks of block
// threads, each thread trying iters nonces (strided by grid*block).
type geometry struct {
	grid, block, iters uint32
}

// launchGeometry shapes a launch of n nonces (1 <= n <= MaxBatch): at most
// one full wave of resident threads (resident = SMs x blocks per SM x block
// size), each thread looping over its share; small launches use fewer blocks.
func launchGeometry(n uint32, block, resident int) geometry {
	if block <= 0 {
		block = DefaultBlockSize
	}
	wave := resident / block
	if wave < 1 {
		wave = 1
	}
	blocks := (uint64(n) + uint64(block) - 1) / uint64(block)
	if blocks <= uint64(wave) {
		return geometry{grid: uint32(blocks), block: uint32(block), iters: 1}
	}
	threads := uint64(wave) * uint64(block)
	iters := (uint64(n) + threads - 1) / threads
	return geometry{grid: uint32(wave), block: uint32(block), iters: uint32(iters)}
}

// threads is the number of threads the shape launches.
func (g geometry) threads() uint64 { return uint64(g.grid) * uint64(g.block) }

// nextBatchSize picks the next launch size from the last launch's rate so
// that a launch takes about target seconds: a power of two (for stable
// benchmarks) between firstBatch/8 and MaxBatch.
func nextBatchSize(rate float64, targetSeconds float64) uint32 {
	want := rate * targetSeconds
	size := uint64(firstBatch / 8)
	for size < MaxBatch && float64(size*2) <= want {
		size *= 2
	}
	return uint32(size)
}
