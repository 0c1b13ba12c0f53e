//go:build !amd64 || purego

package miner

// haveSHANI is false off amd64 (or with the purego tag): the CPU solver
// uses crypto/sha256 from the midstate instead.
var haveSHANI = false

// sha256dSHANI is never called when haveSHANI is false.
func sha256dSHANI(mid *[8]uint32, block *[64]byte, out *[32]byte) {}

// sha256dSHANIx2 is never called when haveSHANI is false.
func sha256dSHANIx2(mid *[8]uint32, blocks *[128]byte, out *[64]byte) {}
