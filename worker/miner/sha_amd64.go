//go:build amd64 && !purego

package miner

// sha256dSHANI writes SHA-256(SHA-256(m)) to out, where m is a message
// whose SHA-256 state after all but its last block is mid and whose last
// block, padded, is block. It needs the SHA extensions, SSSE3 and SSE4.1
// (haveSHANI).
//
//go:noescape
func sha256dSHANI(mid *[8]uint32, block *[64]byte, out *[32]byte)

// sha256dSHANIx2 is sha256dSHANI on two last blocks at once (blocks[0:64]
// and blocks[64:128], digests to out[0:32] and out[32:64]); mid is the
// midstate in the lane order of the SHA extensions (see shaniOrder).
//
//go:noescape
func sha256dSHANIx2(mid *[8]uint32, blocks *[128]byte, out *[64]byte)

// cpuid executes CPUID with the given EAX and ECX.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// haveSHANI reports whether the processor runs sha256dSHANI: SSSE3
// (CPUID.1:ECX bit 9), SSE4.1 (CPUID.1:ECX bit 19) and SHA
// (CPUID.(7,0):EBX bit 29).
var haveSHANI = func() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	_, ebx7, _, _ := cpuid(7, 0)
	return ecx1&(1<<9) != 0 && ecx1&(1<<19) != 0 && ebx7&(1<<29) != 0
}()
