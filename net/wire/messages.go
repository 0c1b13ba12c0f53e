package wire

import (
	"math/big"

	"github.com/gradientcoin/gradientcoin/chain"
)

// MessageVersion is the first byte of every message this package encodes.
const MessageVersion = 1

// Message caps. Each message fits one frame (MaxFrame bytes raw).
const (
	// MaxCompactTxIDs is the most txids a compact block lists. A block
	// with more transactions is announced header-only (FlagHeaderOnly)
	// and its body fetched by hash.
	MaxCompactTxIDs = 30_000
	// MaxLocator is the most hashes in a block locator.
	MaxLocator = 64
	// MaxHeadersPerMsg is the most headers in one response.
	MaxHeadersPerMsg = 2000
	// MaxBlocksPerRequest is the most block hashes in one body request.
	MaxBlocksPerRequest = 64
	// MaxManifestLeaves is the most chunk hashes in a snapshot manifest.
	MaxManifestLeaves = (MaxFrame - 128) / chain.HashSize
	// MaxTxSize caps one gossiped transaction's encoding.
	MaxTxSize = MaxFrame
	// MaxSnapChunk caps one snapshot chunk (64 MiB: chain/state's largest
	// state-root chunk of 1<<24 floats); chunks travel as blobs.
	MaxSnapChunk = 64 << 20
)

// FlagHeaderOnly marks a compact block that carries only the header: the
// receiver fetches the body by hash.
const FlagHeaderOnly = 1

// ContributionRef names one contribution of a block: its content hash
// (chain.ContributionHash) and its encoded size.
type ContributionRef struct {
	Hash chain.Hash
	Size uint32
}

// CompactBlock is a block announcement: the header, the coinbase in full,
// the txids of the other transactions in block order, and the hashes and
// sizes of the contributions. A receiver rebuilds the block from its
// mempool and contribution pool and fetches the rest by hash; the header
// commits to everything (tx root, gradient root), so a rebuilt block is
// checked against it.
type CompactBlock struct {
	Header        chain.Header
	Flags         uint8
	Coinbase      *chain.Tx // nil iff Flags&FlagHeaderOnly
	TxIDs         []chain.Hash
	Contributions []ContributionRef
}

// NewCompactBlock returns b's compact form; a block with too many
// transactions for one message becomes a header-only announcement.
func NewCompactBlock(b *chain.Block) *CompactBlock {
	cb := &CompactBlock{Header: b.Header}
	if len(b.Txs) == 0 || len(b.Txs)-1 > MaxCompactTxIDs || len(b.Contributions) > chain.MaxBlockContributions {
		cb.Flags = FlagHeaderOnly
		return cb
	}
	cb.Coinbase = b.Txs[0]
	cb.TxIDs = make([]chain.Hash, 0, len(b.Txs)-1)
	for _, tx := range b.Txs[1:] {
		cb.TxIDs = append(cb.TxIDs, tx.TxID())
	}
	cb.Contributions = make([]ContributionRef, len(b.Contributions))
	for i, c := range b.Contributions {
		cb.Contributions[i] = ContributionRef{Hash: chain.ContributionHash(c), Size: uint32(len(c))}
	}
	if cb.encodedSize() > MaxFrame {
		return &CompactBlock{Header: b.Header, Flags: FlagHeaderOnly}
	}
	return cb
}

// HeaderOnly reports whether cb carries only the header.
func (cb *CompactBlock) HeaderOnly() bool { return cb.Flags&FlagHeaderOnly != 0 }

func (cb *CompactBlock) encodedSize() int {
	n := 1 + chain.HeaderSize + 1
	if cb.HeaderOnly() {
		return n
	}
	return n + 4 + cb.Coinbase.SerializeSize() + 4 + len(cb.TxIDs)*chain.HashSize + 4 + len(cb.Contributions)*(chain.HashSize+4)
}

// Bytes returns the encoding: version, header, flags, then unless
// header-only: u32-length-prefixed coinbase, u32 count + txids, u32 count
// + (hash, u32 size) per contribution.
func (cb *CompactBlock) Bytes() []byte {
	b := make([]byte, 0, cb.encodedSize())
	b = append(b, MessageVersion)
	b = cb.Header.AppendTo(b)
	b = append(b, cb.Flags)
	if cb.HeaderOnly() {
		return b
	}
	b = appendU32(b, uint32(cb.Coinbase.SerializeSize()))
	b = cb.Coinbase.AppendTo(b)
	b = appendHashes(b, cb.TxIDs)
	b = appendU32(b, uint32(len(cb.Contributions)))
	for _, c := range cb.Contributions {
		b = append(b, c.Hash[:]...)
		b = appendU32(b, c.Size)
	}
	return b
}

// DecodeCompactBlock decodes and sanity-checks a compact block: known
// flags, a coinbase-shaped first transaction, contribution sizes within
// chain.MaxContributionBytes, caps on every count. It does not check the
// header's proof of work or anything else that needs the chain.
func DecodeCompactBlock(raw []byte) (*CompactBlock, error) {
	r := reader{b: raw}
	r.version("compact block")
	hb := r.take(chain.HeaderSize, "compact block header")
	cb := &CompactBlock{}
	if r.err == nil {
		h, err := chain.DecodeHeader(hb)
		if err != nil {
			return nil, wrapf(ErrMalformed, err, "compact block header")
		}
		cb.Header = h
	}
	cb.Flags = r.u8("compact block flags")
	if r.err == nil && cb.Flags&^FlagHeaderOnly != 0 {
		r.fail(ErrMalformed, "compact block: unknown flags %#x", cb.Flags)
	}
	if r.err != nil || cb.HeaderOnly() {
		if err := r.finish("compact block"); err != nil {
			return nil, err
		}
		return cb, nil
	}
	n := r.count("compact block coinbase length", 1, MaxFrame, 1)
	cbRaw := r.take(n, "compact block coinbase")
	if r.err == nil {
		tx, err := chain.DecodeTx(cbRaw)
		if err != nil {
			return nil, wrapf(ErrMalformed, err, "compact block coinbase")
		}
		if !tx.IsCoinbase() {
			return nil, errorf(ErrMalformed, "compact block: first transaction is not a coinbase")
		}
		cb.Coinbase = tx
	}
	cb.TxIDs = r.hashes("compact block txid", 0, MaxCompactTxIDs)
	if m := r.count("compact block contribution count", 0, chain.MaxBlockContributions, chain.HashSize+4); m > 0 {
		cb.Contributions = make([]ContributionRef, m)
		for i := range cb.Contributions {
			c := &cb.Contributions[i]
			c.Hash = r.hash("compact block contribution hash")
			c.Size = r.u32("compact block contribution size")
			if r.err == nil && (c.Size == 0 || c.Size > chain.MaxContributionBytes) {
				r.fail(ErrTooLarge, "compact block contribution %d: size %d outside [1, %d]", i, c.Size, chain.MaxContributionBytes)
			}
		}
	}
	if err := r.finish("compact block"); err != nil {
		return nil, err
	}
	return cb, nil
}

// DecodeTxMsg decodes a gossiped transaction (chain's tx encoding).
func DecodeTxMsg(raw []byte) (*chain.Tx, error) {
	if len(raw) > MaxTxSize {
		return nil, errorf(ErrTooLarge, "tx: %d bytes, limit %d", len(raw), MaxTxSize)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, wrapf(ErrMalformed, err, "tx")
	}
	return tx, nil
}

// ContributionAnnounce says that the sender holds a contribution for
// the block after Parent; receivers fetch it by Hash.
type ContributionAnnounce struct {
	Parent chain.Hash
	Hash   chain.Hash
	Size   uint32
}

const announceSize = 1 + 2*chain.HashSize + 4

// Bytes returns the encoding: version, parent, hash, u32 size.
func (a *ContributionAnnounce) Bytes() []byte {
	b := make([]byte, 0, announceSize)
	b = append(b, MessageVersion)
	b = append(b, a.Parent[:]...)
	b = append(b, a.Hash[:]...)
	return appendU32(b, a.Size)
}

// DecodeContributionAnnounce decodes an announcement; Size must be in
// [1, chain.MaxContributionBytes].
func DecodeContributionAnnounce(raw []byte) (*ContributionAnnounce, error) {
	r := reader{b: raw}
	r.version("contribution announce")
	a := &ContributionAnnounce{}
	a.Parent = r.hash("contribution announce parent")
	a.Hash = r.hash("contribution announce hash")
	a.Size = r.u32("contribution announce size")
	if r.err == nil && (a.Size == 0 || a.Size > chain.MaxContributionBytes) {
		r.fail(ErrTooLarge, "contribution announce: size %d outside [1, %d]", a.Size, chain.MaxContributionBytes)
	}
	if err := r.finish("contribution announce"); err != nil {
		return nil, err
	}
	return a, nil
}

// Status is what a node says about itself on connection and on request:
// its network (genesis), best tip and cumulative work, and the newest
// weights snapshot it serves (zero hash if none).
type Status struct {
	Genesis    chain.Hash
	TipHash    chain.Hash
	TipHeight  uint64
	TipWork    [32]byte // big-endian unsigned
	SnapHash   chain.Hash
	SnapHeight uint64
}

const statusSize = 1 + 4*chain.HashSize + 8 + 8

// Work returns TipWork as an integer.
func (s *Status) Work() *big.Int { return new(big.Int).SetBytes(s.TipWork[:]) }

// SetWork stores w (clamped to 256 bits; negative counts as zero).
func (s *Status) SetWork(w *big.Int) {
	s.TipWork = [32]byte{}
	if w == nil || w.Sign() <= 0 {
		return
	}
	if w.BitLen() > 256 {
		for i := range s.TipWork {
			s.TipWork[i] = 0xff
		}
		return
	}
	w.FillBytes(s.TipWork[:])
}

// Bytes returns the encoding.
func (s *Status) Bytes() []byte {
	b := make([]byte, 0, statusSize)
	b = append(b, MessageVersion)
	b = append(b, s.Genesis[:]...)
	b = append(b, s.TipHash[:]...)
	b = appendU64(b, s.TipHeight)
	b = append(b, s.TipWork[:]...)
	b = append(b, s.SnapHash[:]...)
	return appendU64(b, s.SnapHeight)
}

// DecodeStatus decodes a status message.
func DecodeStatus(raw []byte) (*Status, error) {
	r := reader{b: raw}
	r.version("status")
	s := &Status{}
	s.Genesis = r.hash("status genesis")
	s.TipHash = r.hash("status tip")
	s.TipHeight = r.u64("status tip height")
	copy(s.TipWork[:], r.take(32, "status tip work"))
	s.SnapHash = r.hash("status snapshot hash")
	s.SnapHeight = r.u64("status snapshot height")
	if err := r.finish("status"); err != nil {
		return nil, err
	}
	return s, nil
}

// HeadersRequest asks for up to Max headers of the responder's best
// chain after the first Locator hash it has on that chain (genesis if
// none), stopping after Stop (zero: no stop).
type HeadersRequest struct {
	Locator []chain.Hash
	Stop    chain.Hash
	Max     uint32
}

// Bytes returns the encoding.
func (q *HeadersRequest) Bytes() []byte {
	b := make([]byte, 0, 1+4+len(q.Locator)*chain.HashSize+chain.HashSize+4)
	b = append(b, MessageVersion)
	b = appendHashes(b, q.Locator)
	b = append(b, q.Stop[:]...)
	return appendU32(b, q.Max)
}

// DecodeHeadersRequest decodes a request: 1..MaxLocator locator hashes,
// Max in 1..MaxHeadersPerMsg.
func DecodeHeadersRequest(raw []byte) (*HeadersRequest, error) {
	r := reader{b: raw}
	r.version("headers request")
	q := &HeadersRequest{}
	q.Locator = r.hashes("headers request locator", 1, MaxLocator)
	q.Stop = r.hash("headers request stop")
	q.Max = r.u32("headers request max")
	if r.err == nil && (q.Max == 0 || q.Max > MaxHeadersPerMsg) {
		r.fail(ErrTooLarge, "headers request: max %d outside [1, %d]", q.Max, MaxHeadersPerMsg)
	}
	if err := r.finish("headers request"); err != nil {
		return nil, err
	}
	return q, nil
}

// EncodeHeaders encodes a headers response: u32 count, headers.
func EncodeHeaders(hs []chain.Header) []byte {
	b := make([]byte, 0, 1+4+len(hs)*chain.HeaderSize)
	b = append(b, MessageVersion)
	b = appendU32(b, uint32(len(hs)))
	for i := range hs {
		b = hs[i].AppendTo(b)
	}
	return b
}

// DecodeHeaders decodes a headers response of at most max headers
// (clamped to MaxHeadersPerMsg). It checks only the encoding; the caller
// checks linkage and proof of work.
func DecodeHeaders(raw []byte, max int) ([]chain.Header, error) {
	if max <= 0 || max > MaxHeadersPerMsg {
		max = MaxHeadersPerMsg
	}
	r := reader{b: raw}
	r.version("headers")
	n := r.count("headers count", 0, max, chain.HeaderSize)
	var hs []chain.Header
	if n > 0 {
		hs = make([]chain.Header, n)
		for i := range hs {
			p := r.take(chain.HeaderSize, "header")
			if p == nil {
				break
			}
			h, err := chain.DecodeHeader(p)
			if err != nil {
				return nil, wrapf(ErrMalformed, err, "header %d", i)
			}
			hs[i] = h
		}
	}
	if err := r.finish("headers"); err != nil {
		return nil, err
	}
	return hs, nil
}

// EncodeHashes encodes a list of hashes (a block body request, or a
// single contribution request).
func EncodeHashes(hs []chain.Hash) []byte {
	b := make([]byte, 0, 1+4+len(hs)*chain.HashSize)
	b = append(b, MessageVersion)
	return appendHashes(b, hs)
}

// DecodeHashes decodes a list of 1..max hashes. Duplicates are rejected:
// no honest request names an object twice.
func DecodeHashes(raw []byte, max int) ([]chain.Hash, error) {
	r := reader{b: raw}
	r.version("hash list")
	hs := r.hashes("hash list", 1, max)
	if err := r.finish("hash list"); err != nil {
		return nil, err
	}
	seen := make(map[chain.Hash]struct{}, len(hs))
	for _, h := range hs {
		if _, dup := seen[h]; dup {
			return nil, errorf(ErrMalformed, "hash list: %s twice", h)
		}
		seen[h] = struct{}{}
	}
	return hs, nil
}

// SnapManifest describes the weights snapshot after Block: TotalSize
// bytes in chunks of ChunkSize (the last may be shorter), and the hash of
// each chunk; the chunk hashes commit to the header's state root.
type SnapManifest struct {
	Block     chain.Hash
	TotalSize uint64
	ChunkSize uint32
	Leaves    []chain.Hash
}

// Bytes returns the encoding.
func (m *SnapManifest) Bytes() []byte {
	b := make([]byte, 0, 1+chain.HashSize+8+4+4+len(m.Leaves)*chain.HashSize)
	b = append(b, MessageVersion)
	b = append(b, m.Block[:]...)
	b = appendU64(b, m.TotalSize)
	b = appendU32(b, m.ChunkSize)
	return appendHashes(b, m.Leaves)
}

// ChunkLen returns the size of chunk i.
func (m *SnapManifest) ChunkLen(i int) int {
	start := uint64(i) * uint64(m.ChunkSize)
	if start >= m.TotalSize {
		return 0
	}
	return int(min(uint64(m.ChunkSize), m.TotalSize-start))
}

// DecodeSnapManifest decodes a manifest and checks that the chunk count
// matches TotalSize and ChunkSize (1..MaxSnapChunk).
func DecodeSnapManifest(raw []byte) (*SnapManifest, error) {
	r := reader{b: raw}
	r.version("snapshot manifest")
	m := &SnapManifest{}
	m.Block = r.hash("snapshot manifest block")
	m.TotalSize = r.u64("snapshot manifest size")
	m.ChunkSize = r.u32("snapshot manifest chunk size")
	m.Leaves = r.hashes("snapshot manifest leaf", 1, MaxManifestLeaves)
	if err := r.finish("snapshot manifest"); err != nil {
		return nil, err
	}
	if m.ChunkSize == 0 || m.ChunkSize > MaxSnapChunk {
		return nil, errorf(ErrMalformed, "snapshot manifest: chunk size %d outside [1, %d]", m.ChunkSize, MaxSnapChunk)
	}
	want := (m.TotalSize + uint64(m.ChunkSize) - 1) / uint64(m.ChunkSize)
	if m.TotalSize == 0 || want != uint64(len(m.Leaves)) {
		return nil, errorf(ErrMalformed, "snapshot manifest: %d bytes in chunks of %d need %d leaves, have %d", m.TotalSize, m.ChunkSize, want, len(m.Leaves))
	}
	return m, nil
}

// SnapChunkRequest asks for chunk Index of the snapshot after Block.
type SnapChunkRequest struct {
	Block chain.Hash
	Index uint32
}

// Bytes returns the encoding.
func (q *SnapChunkRequest) Bytes() []byte {
	b := make([]byte, 0, 1+chain.HashSize+4)
	b = append(b, MessageVersion)
	b = append(b, q.Block[:]...)
	return appendU32(b, q.Index)
}

// DecodeSnapChunkRequest decodes a chunk request.
func DecodeSnapChunkRequest(raw []byte) (*SnapChunkRequest, error) {
	r := reader{b: raw}
	r.version("snapshot chunk request")
	q := &SnapChunkRequest{}
	q.Block = r.hash("snapshot chunk request block")
	q.Index = r.u32("snapshot chunk request index")
	if r.err == nil && q.Index >= MaxManifestLeaves {
		r.fail(ErrTooLarge, "snapshot chunk request: index %d beyond %d", q.Index, MaxManifestLeaves)
	}
	if err := r.finish("snapshot chunk request"); err != nil {
		return nil, err
	}
	return q, nil
}

// BlockTxsRequest asks for some transactions of a stored block by their
// position in its compact form: index i names CompactBlock.TxIDs[i] (the
// block's transaction i+1, after the coinbase). Indexes are strictly
// increasing, 1..MaxCompactTxIDs of them, each below MaxCompactTxIDs. The
// answer is one blob per index (the transaction's encoding) or a single
// NotFound / Busy status.
type BlockTxsRequest struct {
	Block   chain.Hash
	Indexes []uint32
}

// Bytes returns the encoding.
func (q *BlockTxsRequest) Bytes() []byte {
	b := make([]byte, 0, 1+chain.HashSize+4+4*len(q.Indexes))
	b = append(b, MessageVersion)
	b = append(b, q.Block[:]...)
	b = appendU32(b, uint32(len(q.Indexes)))
	for _, i := range q.Indexes {
		b = appendU32(b, i)
	}
	return b
}

// DecodeBlockTxsRequest decodes a request for a block's transactions.
func DecodeBlockTxsRequest(raw []byte) (*BlockTxsRequest, error) {
	r := reader{b: raw}
	r.version("block txs request")
	q := &BlockTxsRequest{}
	q.Block = r.hash("block txs request block")
	n := r.count("block txs request index", 1, MaxCompactTxIDs, 4)
	if r.err == nil {
		q.Indexes = make([]uint32, n)
		for k := range q.Indexes {
			q.Indexes[k] = r.u32("block txs request index")
			switch {
			case r.err != nil:
			case q.Indexes[k] >= MaxCompactTxIDs:
				r.fail(ErrTooLarge, "block txs request: index %d beyond %d", q.Indexes[k], MaxCompactTxIDs)
			case k > 0 && q.Indexes[k] <= q.Indexes[k-1]:
				r.fail(ErrMalformed, "block txs request: index %d after %d (want strictly increasing)", q.Indexes[k], q.Indexes[k-1])
			}
		}
	}
	if err := r.finish("block txs request"); err != nil {
		return nil, err
	}
	return q, nil
}
