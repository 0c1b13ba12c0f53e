//go:build race

package miner

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
