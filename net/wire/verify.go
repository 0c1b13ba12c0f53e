package wire

import "github.com/gradientcoin/gradientcoin/chain"

// VerifyBody checks that a block received for hash is that block and that
// its body matches its header's commitments (tx root, gradient root). A
// block that passes can still be invalid by consensus, but then its
// header is invalid too: the sender cannot have mutated the body.
func VerifyBody(want chain.Hash, b *chain.Block) error {
	if got := b.Hash(); got != want {
		return errorf(ErrMismatch, "block %s received for %s", got, want)
	}
	if got := chain.CalcTxRoot(b.Txs); got != b.Header.TxRoot {
		return errorf(ErrMismatch, "block %s: tx root %s, header commits to %s", want, got, b.Header.TxRoot)
	}
	if got := chain.CalcGradientRoot(b.Contributions); got != b.Header.GradientRoot {
		return errorf(ErrMismatch, "block %s: gradient root %s, header commits to %s", want, got, b.Header.GradientRoot)
	}
	return nil
}

// VerifyContribution checks that c is the contribution with hash want.
func VerifyContribution(want chain.Hash, c []byte) error {
	if got := chain.ContributionHash(c); got != want {
		return errorf(ErrMismatch, "contribution %s received for %s", got, want)
	}
	return nil
}

// DecodeBody decodes a block body received for hash and verifies it
// (VerifyBody).
func DecodeBody(want chain.Hash, raw []byte) (*chain.Block, error) {
	b, err := chain.DecodeBlock(raw)
	if err != nil {
		return nil, wrapf(ErrMalformed, err, "block %s", want)
	}
	if err := VerifyBody(want, b); err != nil {
		return nil, err
	}
	return b, nil
}
