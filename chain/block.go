package chain

// Protocol caps that hold on every network (decoders enforce them before
// allocating); network params set the consensus limits below them.
const (
	MaxBlockTxs           = 1 << 20
	MaxBlockContributions = 1 << 10
	MaxContributionBytes  = 1 << 28 // one contribution's encoding
)

// Block is a header, its transactions (coinbase first) and its training
// contributions. Contributions are opaque bytes to the block layer: each
// is committed by its content hash (ContributionHash) under the header's
// gradient root; chain/state decodes and applies them.
type Block struct {
	Header        Header
	Txs           []*Tx
	Contributions [][]byte
}

// Hash returns the block hash (the header's).
func (b *Block) Hash() Hash { return b.Header.BlockHash() }

// ContributionHash is the content hash of an encoded contribution: its
// identity on the wire and its leaf in the gradient root.
func ContributionHash(c []byte) Hash { return TaggedHash("gradientcoin/contribution", c) }

// CalcTxRoot returns the merkle root over the full hashes of txs.
func CalcTxRoot(txs []*Tx) Hash {
	leaves := make([]Hash, len(txs))
	for i, tx := range txs {
		leaves[i] = tx.Hash()
	}
	return MerkleRoot(leaves)
}

// CalcGradientRoot returns the merkle root over the contribution hashes.
func CalcGradientRoot(contributions [][]byte) Hash {
	leaves := make([]Hash, len(contributions))
	for i, c := range contributions {
		leaves[i] = ContributionHash(c)
	}
	return MerkleRoot(leaves)
}

// Bytes returns the block's encoding: header, u32 tx count, txs, u32
// contribution count, each contribution u32-length-prefixed.
func (b *Block) Bytes() []byte {
	buf := make([]byte, 0, b.SerializeSize())
	buf = b.Header.AppendTo(buf)
	buf = appendU32(buf, uint32(len(b.Txs)))
	for _, tx := range b.Txs {
		buf = tx.AppendTo(buf)
	}
	buf = appendU32(buf, uint32(len(b.Contributions)))
	for _, c := range b.Contributions {
		buf = appendBytes(buf, c)
	}
	return buf
}

// SerializeSize is the length of Bytes.
func (b *Block) SerializeSize() int {
	n := HeaderSize + 4 + 4
	for _, tx := range b.Txs {
		n += tx.SerializeSize()
	}
	for _, c := range b.Contributions {
		n += 4 + len(c)
	}
	return n
}

// GradientSize is the total size of the block's contributions.
func (b *Block) GradientSize() int {
	n := 0
	for _, c := range b.Contributions {
		n += len(c)
	}
	return n
}

// DecodeBlock decodes one block and rejects trailing bytes. Every count
// and length is checked against its cap and the remaining input before
// anything is allocated. It does not validate consensus rules.
func DecodeBlock(raw []byte) (*Block, error) {
	d := decoder{b: raw}
	blk := &Block{}
	blk.Header = d.header()
	if n := d.count("block tx count", MaxBlockTxs, minTxSize); n > 0 {
		blk.Txs = make([]*Tx, n)
		for i := range blk.Txs {
			blk.Txs[i] = d.tx()
		}
	}
	if n := d.count("block contribution count", MaxBlockContributions, 4); n > 0 {
		blk.Contributions = make([][]byte, n)
		for i := range blk.Contributions {
			blk.Contributions[i] = d.bytes("block contribution", MaxContributionBytes)
		}
	}
	if err := d.finish("block"); err != nil {
		return nil, err
	}
	return blk, nil
}
