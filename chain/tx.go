package chain

import (
	"crypto/ed25519"
	"fmt"
)

// Amounts are in atoms: 1 coin = 1e8 atoms.
const (
	AtomsPerCoin = 100_000_000
	// MaxMoney is the most atoms that can ever exist; every output value
	// and every sum of values is checked against it.
	MaxMoney = 21_000_000 * AtomsPerCoin
)

// TxVersion is the only transaction version this software accepts.
const TxVersion = 1

// Protocol caps that hold on every network. Network params may lower them.
const (
	MaxTxInputs        = 10_000
	MaxTxOutputs       = 2 // payment and change
	MaxCoinbaseOuts    = 256
	MaxCoinbasePayload = 100
	CoinbaseIndex      = ^uint32(0) // prevout index of the coinbase input
)

// AddressSize is the size of an address hash.
const AddressSize = 20

// Address is the hash of an ed25519 public key (see AddressOf).
type Address [AddressSize]byte

// AddressOf returns the address of an ed25519 public key:
// the first 20 bytes of TaggedHash("gradientcoin/address", pub).
func AddressOf(pub ed25519.PublicKey) Address {
	h := TaggedHash("gradientcoin/address", pub)
	var a Address
	copy(a[:], h[:AddressSize])
	return a
}

// OutPoint names a transaction output.
type OutPoint struct {
	TxID  Hash
	Index uint32
}

// IsNull reports whether op is the coinbase's null prevout.
func (op OutPoint) IsNull() bool { return op.TxID.IsZero() && op.Index == CoinbaseIndex }

func (op OutPoint) String() string { return fmt.Sprintf("%s:%d", op.TxID, op.Index) }

// TxIn spends an output: the spender's public key must hash to the output's
// address, and the signature covers the transaction's sighash.
type TxIn struct {
	PrevOut   OutPoint
	PubKey    [ed25519.PublicKeySize]byte
	Signature [ed25519.SignatureSize]byte
}

// TxOut pays Value atoms to Address.
type TxOut struct {
	Value   uint64
	Address Address
}

// Tx is a transaction. A coinbase has exactly one input with a null prevout
// and zero key and signature, and a Payload that starts with the block
// height (u64 LE, which makes coinbase txids unique) followed by up to
// MaxCoinbasePayload-8 bytes of miner data. Other transactions have an
// empty Payload.
type Tx struct {
	Version uint32
	Inputs  []TxIn
	Outputs []TxOut
	Payload []byte
}

const (
	txInSize  = HashSize + 4 + ed25519.PublicKeySize + ed25519.SignatureSize
	txOutSize = 8 + AddressSize
	minTxSize = 4 + 4 + 4 + 4 // version, counts, payload length
)

// IsCoinbase reports whether tx has the coinbase's shape.
func (tx *Tx) IsCoinbase() bool {
	return len(tx.Inputs) == 1 && tx.Inputs[0].PrevOut.IsNull()
}

// Bytes returns the full encoding (signatures included).
func (tx *Tx) Bytes() []byte { return tx.AppendTo(nil) }

// AppendTo appends the full encoding to b.
func (tx *Tx) AppendTo(b []byte) []byte { return tx.appendTo(b, true) }

func (tx *Tx) appendTo(b []byte, withSigs bool) []byte {
	b = appendU32(b, tx.Version)
	b = appendU32(b, uint32(len(tx.Inputs)))
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		b = append(b, in.PrevOut.TxID[:]...)
		b = appendU32(b, in.PrevOut.Index)
		b = append(b, in.PubKey[:]...)
		if withSigs {
			b = append(b, in.Signature[:]...)
		}
	}
	b = appendU32(b, uint32(len(tx.Outputs)))
	for _, out := range tx.Outputs {
		b = appendU64(b, out.Value)
		b = append(b, out.Address[:]...)
	}
	return appendBytes(b, tx.Payload)
}

// SerializeSize is the length of the full encoding.
func (tx *Tx) SerializeSize() int {
	return minTxSize + len(tx.Inputs)*txInSize + len(tx.Outputs)*txOutSize + len(tx.Payload)
}

// TxID is the hash of the transaction without its signatures, so a
// signature cannot be changed to change the txid (no malleability).
func (tx *Tx) TxID() Hash {
	return TaggedHash("gradientcoin/txid", tx.appendTo(nil, false))
}

// Hash is the hash of the full encoding, signatures included; the block's
// tx root commits to these, so a block commits to every signature.
func (tx *Tx) Hash() Hash {
	return TaggedHash("gradientcoin/tx", tx.Bytes())
}

// DecodeTx decodes one transaction and rejects trailing bytes.
func DecodeTx(b []byte) (*Tx, error) {
	d := decoder{b: b}
	tx := d.tx()
	if err := d.finish("tx"); err != nil {
		return nil, err
	}
	return tx, nil
}

func (d *decoder) tx() *Tx {
	tx := &Tx{}
	tx.Version = d.u32("tx version")
	if n := d.count("tx input count", MaxTxInputs, txInSize); n > 0 {
		tx.Inputs = make([]TxIn, n)
		for i := range tx.Inputs {
			in := &tx.Inputs[i]
			in.PrevOut.TxID = d.hash("tx input prevout txid")
			in.PrevOut.Index = d.u32("tx input prevout index")
			copy(in.PubKey[:], d.take(ed25519.PublicKeySize, "tx input pubkey"))
			copy(in.Signature[:], d.take(ed25519.SignatureSize, "tx input signature"))
		}
	}
	if n := d.count("tx output count", MaxCoinbaseOuts, txOutSize); n > 0 {
		tx.Outputs = make([]TxOut, n)
		for i := range tx.Outputs {
			tx.Outputs[i].Value = d.u64("tx output value")
			copy(tx.Outputs[i].Address[:], d.take(AddressSize, "tx output address"))
		}
	}
	tx.Payload = d.bytes("tx payload", MaxCoinbasePayload)
	if len(tx.Payload) == 0 {
		tx.Payload = nil // one canonical in-memory form for "empty"
	}
	return tx
}
