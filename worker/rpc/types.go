package rpc

import (
	"strconv"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

// FormatCoins renders atoms as a decimal coin amount ("12.5").
func FormatCoins(a uint64) string {
	whole, frac := a/chain.AtomsPerCoin, a%chain.AtomsPerCoin
	s := strconv.FormatUint(whole, 10)
	if frac == 0 {
		return s
	}
	f := strconv.FormatUint(frac+chain.AtomsPerCoin, 10)[1:] // zero-padded to 8 digits
	for len(f) > 0 && f[len(f)-1] == '0' {
		f = f[:len(f)-1]
	}
	return s + "." + f
}

// Block is a block with its header fields and transactions
// (GET /api/v1/blocks/{height|hash}).
type Block struct {
	node.BlockSummary
	Version      uint32     `json:"version"`
	Prev         chain.Hash `json:"prev"`
	TxRoot       chain.Hash `json:"tx_root"`
	GradientRoot chain.Hash `json:"gradient_root"`
	Bits         string     `json:"bits"` // compact target, hex
	Nonce        uint64     `json:"nonce"`
	MainChain    bool       `json:"main_chain"`
	Transactions []Tx       `json:"transactions"`
	// ContributionHashes are the content hashes of the contributions.
	ContributionHashes []chain.Hash `json:"contribution_hashes"`
}

// Tx is a transaction.
type Tx struct {
	TxID     chain.Hash `json:"txid"`
	Coinbase bool       `json:"coinbase,omitempty"`
	Inputs   []TxInput  `json:"inputs"`
	Outputs  []TxOutput `json:"outputs"`
	Size     int        `json:"size"`
}

// TxInput is a spent outpoint and the address of the key that spends it.
type TxInput struct {
	TxID  chain.Hash `json:"txid"`
	Index uint32     `json:"index"`
	From  string     `json:"from"`
}

// TxOutput is a payment of Value atoms.
type TxOutput struct {
	Address string `json:"address"`
	Value   uint64 `json:"value"`
}

// NewBlock describes blk of network p. owns (may be nil) tells whether an
// address is the wallet's (BlockSummary.Mine).
func NewBlock(p *chain.Params, blk *chain.Block, mainChain bool, owns func(chain.Address) bool) Block {
	s := node.BlockSummary{
		Height:        blk.Header.Height,
		Hash:          blk.Hash(),
		Time:          blk.Header.Timestamp,
		Txs:           max(len(blk.Txs)-1, 0),
		Contributions: len(blk.Contributions),
		Size:          blk.SerializeSize(),
		StateRoot:     blk.Header.StateRoot,
	}
	if len(blk.Txs) > 0 && len(blk.Txs[0].Outputs) > 0 {
		cb := blk.Txs[0]
		for _, o := range cb.Outputs {
			s.Reward += o.Value
		}
		s.Miner = chain.EncodeAddress(p.AddressPrefix, cb.Outputs[0].Address)
		s.Mine = owns != nil && owns(cb.Outputs[0].Address)
	}
	b := Block{
		BlockSummary: s,
		Version:      blk.Header.Version,
		Prev:         blk.Header.PrevBlock,
		TxRoot:       blk.Header.TxRoot,
		GradientRoot: blk.Header.GradientRoot,
		Bits:         strconv.FormatUint(uint64(blk.Header.Bits), 16),
		Nonce:        blk.Header.Nonce,
		MainChain:    mainChain,
		Transactions: make([]Tx, 0, len(blk.Txs)),
	}
	for _, tx := range blk.Txs {
		b.Transactions = append(b.Transactions, NewTx(p, tx))
	}
	b.ContributionHashes = make([]chain.Hash, 0, len(blk.Contributions))
	for _, c := range blk.Contributions {
		b.ContributionHashes = append(b.ContributionHashes, chain.ContributionHash(c))
	}
	return b
}

// NewTx describes tx of network p.
func NewTx(p *chain.Params, tx *chain.Tx) Tx {
	t := Tx{TxID: tx.TxID(), Coinbase: tx.IsCoinbase(), Size: tx.SerializeSize(),
		Inputs: []TxInput{}, Outputs: make([]TxOutput, 0, len(tx.Outputs))}
	if !t.Coinbase {
		for _, in := range tx.Inputs {
			t.Inputs = append(t.Inputs, TxInput{TxID: in.PrevOut.TxID, Index: in.PrevOut.Index,
				From: chain.EncodeAddress(p.AddressPrefix, chain.AddressOf(in.PubKey[:]))})
		}
	}
	for _, o := range tx.Outputs {
		t.Outputs = append(t.Outputs, TxOutput{Address: chain.EncodeAddress(p.AddressPrefix, o.Address), Value: o.Value})
	}
	return t
}

// Balance is GET /api/v1/wallet/balance.
type Balance struct {
	Spendable uint64 `json:"spendable"` // atoms
	Immature  uint64 `json:"immature"`  // atoms: young coinbases, coins of pending payments
	Total     uint64 `json:"total"`
	// The same amounts in coins, as decimal strings.
	SpendableCoins string `json:"spendable_coins"`
	ImmatureCoins  string `json:"immature_coins"`
	TotalCoins     string `json:"total_coins"`
}

// NewBalance fills a Balance.
func NewBalance(spendable, immature uint64) Balance {
	return Balance{
		Spendable: spendable, Immature: immature, Total: spendable + immature,
		SpendableCoins: FormatCoins(spendable), ImmatureCoins: FormatCoins(immature), TotalCoins: FormatCoins(spendable + immature),
	}
}

// AddressResponse is POST /api/v1/wallet/address.
type AddressResponse struct {
	Address string `json:"address"`
}

// SendRequest is the body of POST /api/v1/wallet/send.
type SendRequest struct {
	To      string `json:"to"`       // address of the payee (required)
	Amount  uint64 `json:"amount"`   // atoms (required, > 0)
	FeeRate uint64 `json:"fee_rate"` // atoms per byte; 0: the mempool's minimum
}

// SendResponse is the reply of POST /api/v1/wallet/send.
type SendResponse struct {
	TxID chain.Hash `json:"txid"`
}

// GenerateRequest is the body of POST /api/v1/generate.
type GenerateRequest struct {
	Prompt      string  `json:"prompt"`
	Length      int     `json:"length"`           // bytes to generate (required, 1..65536)
	Height      *uint64 `json:"height,omitempty"` // model after this block; nil: the tip
	Temperature float32 `json:"temperature"`      // ≤ 0: greedy
	TopK        int     `json:"top_k"`
	Seed        uint64  `json:"seed"`
}

// GenerateResponse is the reply of POST /api/v1/generate.
type GenerateResponse struct {
	Text   string     `json:"text"` // the generated bytes (not including the prompt)
	Height uint64     `json:"height"`
	Block  chain.Hash `json:"block"`
}

// ErrorResponse is the body of every error reply.
type ErrorResponse struct {
	Error string `json:"error"`
	// Kind classifies the error: unauthorized, bad_request, not_found,
	// insufficient_funds, method_not_allowed, internal, unavailable.
	Kind string `json:"kind"`
	// Field names the request field at fault, if any.
	Field string `json:"field,omitempty"`
}

// Headers of GET /api/v1/weights.
const (
	HeaderHeight    = "X-Gradientcoin-Height"
	HeaderBlock     = "X-Gradientcoin-Block"
	HeaderStateRoot = "X-Gradientcoin-State-Root"
	HeaderNetwork   = "X-Gradientcoin-Network"
)
