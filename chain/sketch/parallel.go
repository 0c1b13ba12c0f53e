package sketch

import (
	"runtime"
	"sync"
)

// ParallelFor calls fn on disjoint ranges [lo, hi) covering [0, n), using up
// to GOMAXPROCS goroutines, and returns when all are done. Callers use it
// only where every output element is computed by one call in a fixed order,
// so results never depend on the split or on scheduling. grain is the
// smallest range worth a goroutine.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	p := runtime.GOMAXPROCS(0)
	if maxP := (n + grain - 1) / grain; p > maxP {
		p = maxP
	}
	if p <= 1 {
		fn(0, n)
		return
	}
	// A few ranges per goroutine balance uneven work.
	parts := p * 4
	if maxP := (n + grain - 1) / grain; parts > maxP {
		parts = maxP
	}
	step := (n + parts - 1) / parts
	var wg sync.WaitGroup
	next := make(chan int, parts)
	for lo := 0; lo < n; lo += step {
		next <- lo
	}
	close(next)
	for g := 0; g < p; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				fn(lo, min(lo+step, n))
			}
		}()
	}
	wg.Wait()
}
