package chain

import (
	"crypto/ed25519"
	"encoding/binary"
)

// SigHash is the message every input of tx signs (one sighash per tx, like
// Bitcoin's SIGHASH_ALL): TaggedHash("gradientcoin/sighash", genesis, txid,
// value of each spent output in input order). The txid commits to every
// outpoint, key, output and the payload; the genesis hash keeps a
// signature from being replayed on another network; the spent values make
// a signer's fee explicit.
func SigHash(tx *Tx, spentValues []uint64, genesis Hash) Hash {
	id := tx.TxID()
	buf := make([]byte, 0, 2*HashSize+8*len(spentValues))
	buf = append(buf, genesis[:]...)
	buf = append(buf, id[:]...)
	for _, v := range spentValues {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	return TaggedHash("gradientcoin/sighash", buf)
}

// SignTx fills in every input's public key and signature. keys[i] signs
// input i; spentValues[i] is the value of the output input i spends.
func SignTx(tx *Tx, keys []ed25519.PrivateKey, spentValues []uint64, genesis Hash) error {
	if len(keys) != len(tx.Inputs) || len(spentValues) != len(tx.Inputs) {
		return ruleError(ErrBadTxInput, "sign tx: %d inputs, %d keys, %d spent values", len(tx.Inputs), len(keys), len(spentValues))
	}
	for i, k := range keys {
		if len(k) != ed25519.PrivateKeySize {
			return ruleError(ErrBadSignature, "sign tx: key %d has %d bytes, want %d", i, len(k), ed25519.PrivateKeySize)
		}
		copy(tx.Inputs[i].PubKey[:], k.Public().(ed25519.PublicKey))
	}
	msg := SigHash(tx, spentValues, genesis) // after keys: the txid covers them
	for i, k := range keys {
		copy(tx.Inputs[i].Signature[:], ed25519.Sign(k, msg[:]))
	}
	return nil
}

// VerifyInput checks input i's signature against msg (SigHash of the tx)
// and that its key hashes to the spent output's address.
func VerifyInput(tx *Tx, i int, msg Hash, spent Address) error {
	if i < 0 || i >= len(tx.Inputs) {
		return ruleError(ErrBadTxInput, "tx %s: input %d out of range (%d inputs)", tx.TxID(), i, len(tx.Inputs))
	}
	in := &tx.Inputs[i]
	if AddressOf(in.PubKey[:]) != spent {
		return ruleError(ErrWrongKey, "tx %s input %d: key does not match the address of %s", tx.TxID(), i, in.PrevOut)
	}
	if !ed25519.Verify(in.PubKey[:], msg[:], in.Signature[:]) {
		return ruleError(ErrBadSignature, "tx %s input %d: invalid signature", tx.TxID(), i)
	}
	return nil
}
