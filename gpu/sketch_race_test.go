//go:build race

package gpu

// raceBuild: the race detector slows the CPU references down; host tests
// shorten their replays.
const raceBuild = true
