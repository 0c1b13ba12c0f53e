//go:build unix

package miner

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the process has used.
// On a shared machine, hashes per CPU-second is the per-core rate,
// independent of how the scheduler sliced the wall-clock time.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
