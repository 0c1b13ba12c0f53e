//go:build !unix

package miner

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
