package p2p

import (
	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// The weights snapshot commitment follows chain/state.Root: the weights'
// little-endian bytes are cut into chunks of StateChunk floats; each
// chunk's leaf is SHA-256(0x00 ‖ chunk); inner nodes SHA-256(0x01 ‖ l ‖
// r) with an odd last node carried up; the root is SHA-256(0x02 ‖
// "gradientcoin/state" ‖ n u64 ‖ chunk u32 ‖ tree). A manifest lists the
// leaves, so each chunk can be verified on arrival and the manifest
// against the header's state root before any chunk is fetched. The test
// TestSnapshotRootMatchesState pins this to state.Root.

func snapLeaf(chunk []byte) chain.Hash { return state.LeafHash(chunk) }

func snapRoot(nFloats uint64, chunkFloats uint32, leaves []chain.Hash) chain.Hash {
	ls := make([][32]byte, len(leaves))
	for i, l := range leaves {
		ls[i] = l
	}
	return state.RootFromLeaves(ls, nFloats, chunkFloats)
}

// buildManifest cuts weights into chunks of chunkFloats floats.
func buildManifest(block chain.Hash, weights []byte, chunkFloats int) *wire.SnapManifest {
	cs := 4 * chunkFloats
	m := &wire.SnapManifest{Block: block, TotalSize: uint64(len(weights)), ChunkSize: uint32(cs)}
	for off := 0; off < len(weights); off += cs {
		m.Leaves = append(m.Leaves, snapLeaf(weights[off:min(off+cs, len(weights))]))
	}
	return m
}

// checkManifest verifies a manifest against the header it is for.
func checkManifest(m *wire.SnapManifest, h *chain.Header, chunkFloats int) error {
	switch {
	case m.Block != h.BlockHash():
		return errorf(ErrBadPeerData, "snapshot manifest for block %s, asked for %s", m.Block, h.BlockHash())
	case m.ChunkSize != uint32(4*chunkFloats):
		return errorf(ErrBadPeerData, "snapshot manifest chunk size %d bytes, network uses %d", m.ChunkSize, 4*chunkFloats)
	case m.TotalSize%4 != 0:
		return errorf(ErrBadPeerData, "snapshot manifest size %d is not whole floats", m.TotalSize)
	}
	if got := snapRoot(m.TotalSize/4, uint32(chunkFloats), m.Leaves); got != h.StateRoot {
		return errorf(ErrBadPeerData, "snapshot manifest for block %s: root %s, header state root %s", m.Block, got, h.StateRoot)
	}
	return nil
}
