package sketch

import (
	"math"
	"slices"
	"sync"
)

// FWHT applies the unnormalized Walsh–Hadamard transform in place to z,
// whose length must be a power of two (other lengths are left unchanged).
//
// The result is defined as the standard radix-2 network: for h = 1, 2, 4,
// …, len/2, every pair (k, k+h) with k mod 2h < h becomes
// (z[k]+z[k+h], z[k]−z[k+h]) in float32. Every element is produced by the
// same operations in the same data-flow order whatever the schedule, so
// the blocked and radix-4 passes used here (and any GPU kernel that follows
// the same network) give bit-identical results.
func FWHT(z []float32) {
	n := len(z)
	if n < 2 || n&(n-1) != 0 {
		return
	}
	const block = 1 << 11
	if n <= block {
		fwhtStages(z, n)
		return
	}
	ParallelFor(n/block, 4, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			fwhtStages(z[b*block:(b+1)*block], block)
		}
	})
	for h := block; h < n; {
		if 4*h <= n {
			radix4Pass(z, h)
			h *= 4
		} else {
			radix2Pass(z, h)
			h *= 2
		}
	}
}

// fwhtStages runs stages h = 1 … hEnd/2 on z (len(z) a multiple of hEnd).
func fwhtStages(z []float32, hEnd int) {
	for h := 1; h < hEnd; h *= 2 {
		for i := 0; i < len(z); i += 2 * h {
			a, b := z[i:i+h], z[i+h:i+2*h]
			for k := range a {
				x, y := a[k], b[k]
				a[k], b[k] = x+y, x-y
			}
		}
	}
}

// radix4Pass runs stages h and 2h together.
func radix4Pass(z []float32, h int) {
	n := len(z)
	ParallelFor(n/4, 1<<12, func(lo, hi int) {
		for q := lo; q < hi; {
			g, k := q/h, q%h
			base := g * 4 * h
			cnt := min(h-k, hi-q)
			z0 := z[base+k : base+k+cnt]
			z1 := z[base+h+k : base+h+k+cnt]
			z2 := z[base+2*h+k : base+2*h+k+cnt]
			z3 := z[base+3*h+k : base+3*h+k+cnt]
			for i := range z0 {
				a0, a1, a2, a3 := z0[i], z1[i], z2[i], z3[i]
				b0, b1 := a0+a1, a0-a1
				b2, b3 := a2+a3, a2-a3
				z0[i], z2[i] = b0+b2, b0-b2
				z1[i], z3[i] = b1+b3, b1-b3
			}
			q += cnt
		}
	})
}

func radix2Pass(z []float32, h int) {
	n := len(z)
	ParallelFor(n/2, 1<<12, func(lo, hi int) {
		for q := lo; q < hi; {
			g, k := q/h, q%h
			base := g * 2 * h
			cnt := min(h-k, hi-q)
			a := z[base+k : base+k+cnt]
			b := z[base+h+k : base+h+k+cnt]
			for i := range a {
				x, y := a[i], b[i]
				a[i], b[i] = x+y, x-y
			}
			q += cnt
		}
	})
}

// TopK keeps the k entries of v with the largest magnitude and sets the
// others to +0. Magnitudes compare as the IEEE bit patterns of |v|
// (Float32bits(v) & 0x7fffffff, an unsigned integer), ties go to the lower
// index. k ≥ len(v) keeps everything; k ≤ 0 clears v. Deterministic and
// independent of scheduling (radix select over integer keys).
func TopK(v []float32, k int) {
	n := len(v)
	if k >= n {
		return
	}
	if k <= 0 {
		clear(v)
		return
	}
	key := func(x float32) uint32 { return math.Float32bits(x) & 0x7fffffff }

	if n <= 1<<15 {
		// Small vectors: sort the keys to find the threshold (the same
		// threshold and ties rule as the radix path below).
		keys := make([]uint32, n)
		for i, x := range v {
			keys[i] = key(x)
		}
		slices.Sort(keys)
		thr := keys[n-k]
		need := k
		for _, kx := range keys[n-k:] {
			if kx > thr {
				need--
			}
		}
		for i, x := range v {
			kx := key(x)
			switch {
			case kx > thr:
			case kx == thr && need > 0:
				need--
			default:
				v[i] = 0
			}
		}
		return
	}

	// Pass 1: histogram of the high 16 bits of the keys.
	var mu sync.Mutex
	hist := make([]uint64, 1<<16)
	ParallelFor(n, 1<<16, func(lo, hi int) {
		local := make([]uint32, 1<<16)
		for _, x := range v[lo:hi] {
			local[key(x)>>16]++
		}
		mu.Lock()
		for i, c := range local {
			hist[i] += uint64(c)
		}
		mu.Unlock()
	})
	need := uint64(k)
	hiBin := 0
	for b := len(hist) - 1; b >= 0; b-- {
		if hist[b] >= need {
			hiBin = b
			break
		}
		need -= hist[b]
	}
	// Pass 2: histogram of the low 16 bits inside that bin.
	clear(hist)
	ParallelFor(n, 1<<16, func(lo, hi int) {
		local := make([]uint32, 1<<16)
		for _, x := range v[lo:hi] {
			if kx := key(x); int(kx>>16) == hiBin {
				local[kx&0xffff]++
			}
		}
		mu.Lock()
		for i, c := range local {
			hist[i] += uint64(c)
		}
		mu.Unlock()
	})
	loBin := 0
	for b := len(hist) - 1; b >= 0; b-- {
		if hist[b] >= need {
			loBin = b
			break
		}
		need -= hist[b]
	}
	thr := uint32(hiBin)<<16 | uint32(loBin)
	// need is now the number of entries equal to thr to keep, lowest
	// indices first. Count ties per fixed chunk, hand out the allowance in
	// chunk order, then clear.
	const chunk = 1 << 16
	nc := (n + chunk - 1) / chunk
	ties := make([]uint64, nc)
	ParallelFor(nc, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var t uint64
			for _, x := range v[c*chunk : min(c*chunk+chunk, n)] {
				if key(x) == thr {
					t++
				}
			}
			ties[c] = t
		}
	})
	for c := range ties {
		keep := min(ties[c], need)
		need -= keep
		ties[c] = keep
	}
	ParallelFor(nc, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			keep := ties[c]
			seg := v[c*chunk : min(c*chunk+chunk, n)]
			for i, x := range seg {
				kx := key(x)
				switch {
				case kx > thr:
				case kx == thr && keep > 0:
					keep--
				default:
					seg[i] = 0
				}
			}
		}
	})
}
