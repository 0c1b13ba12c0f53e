package chain

// MerkleRoot returns the root of a binary tree over leaves. Leaves and
// inner nodes are hashed under different tags, and an odd node at the end
// of a level is promoted unchanged rather than paired with itself, so no
// two different leaf lists share a root (no CVE-2012-2459 style mutation).
// The root of no leaves is the zero hash.
func MerkleRoot(leaves []Hash) Hash {
	if len(leaves) == 0 {
		return ZeroHash
	}
	level := make([]Hash, len(leaves))
	for i, l := range leaves {
		level[i] = TaggedHash("gradientcoin/merkle-leaf", l[:])
	}
	var pair [2 * HashSize]byte
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			copy(pair[:HashSize], level[i][:])
			copy(pair[HashSize:], level[i+1][:])
			next = append(next, TaggedHash("gradientcoin/merkle-node", pair[:]))
		}
		level = next
	}
	return level[0]
}
