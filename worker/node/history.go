package node

import (
	"github.com/gradientcoin/gradientcoin/chain"
)

// WalletTx is one wallet transaction: coins received by the wallet's
// addresses and coins it spent, in one transaction.
type WalletTx struct {
	TxID     chain.Hash `json:"txid"`
	Height   uint64     `json:"height"` // 0 with Pending
	Block    chain.Hash `json:"block"`  // zero with Pending
	Time     int64      `json:"time"`   // block timestamp (unix s); 0 with Pending
	Coinbase bool       `json:"coinbase"`
	Pending  bool       `json:"pending"`  // in the mempool, not yet in a block
	Received uint64     `json:"received"` // atoms paid to the wallet's addresses
	Sent     uint64     `json:"sent"`     // atoms of the wallet's coins spent
	Fee      uint64     `json:"fee"`      // when the wallet paid it (all inputs its own)
	// Confirmations: tip height − Height + 1 (0 with Pending).
	Confirmations uint64 `json:"confirmations"`
}

// Net is Received − Sent (negative for a payment out).
func (t WalletTx) Net() int64 { return int64(t.Received) - int64(t.Sent) }

// historyCache is the wallet history of the main chain up to tip, extended
// block by block (a reorg below it rescans from genesis).
type historyCache struct {
	tip     chain.Hash
	height  uint64
	valid   bool
	entries []WalletTx
	owned   map[chain.OutPoint]uint64 // the wallet's outputs seen so far → value
}

// History returns the wallet's transactions on the main chain, oldest
// first, followed by its pending ones in the mempool.
func (n *Node) History() ([]WalletTx, error) {
	n.histMu.Lock()
	defer n.histMu.Unlock()
	c := &n.hist
	tip := n.bc.Tip()
	if c.valid {
		if h, ok := n.bc.HashByHeight(c.height); !ok || h != c.tip {
			c.valid = false
		}
	}
	if !c.valid {
		*c = historyCache{owned: make(map[chain.OutPoint]uint64)}
	}
	start := c.height + 1
	if !c.valid {
		start = 1 // the genesis coinbase pays nobody
	}
	for h := start; h <= tip.Height; h++ {
		b, err := n.bc.BlockByHeight(h)
		if err != nil {
			c.valid = false
			return nil, err
		}
		for _, tx := range b.Txs {
			if e, ok := n.scanTx(c.owned, tx, h); ok {
				e.Height, e.Block, e.Time = h, b.Hash(), b.Header.Timestamp
				c.entries = append(c.entries, e)
			}
		}
		c.tip, c.height, c.valid = b.Hash(), h, true
	}
	out := make([]WalletTx, 0, len(c.entries))
	for _, e := range c.entries {
		e.Confirmations = tip.Height - e.Height + 1
		out = append(out, e)
	}
	// Pending: scanned on a copy of the owned set so the cache stays clean.
	owned := make(map[chain.OutPoint]uint64, len(c.owned))
	for k, v := range c.owned {
		owned[k] = v
	}
	for _, tx := range n.mp.Txs() {
		if e, ok := n.scanTx(owned, tx, tip.Height+1); ok {
			e.Pending = true
			out = append(out, e)
		}
	}
	return out, nil
}

// scanTx records tx's outputs to the wallet in owned and returns its
// history entry if it touches the wallet (tx is in the block at height, or
// pending for it).
func (n *Node) scanTx(owned map[chain.OutPoint]uint64, tx *chain.Tx, height uint64) (WalletTx, bool) {
	e := WalletTx{TxID: tx.TxID(), Coinbase: tx.IsCoinbase()}
	allMine := !e.Coinbase
	var in uint64
	if !e.Coinbase {
		for _, ti := range tx.Inputs {
			v, ok := owned[ti.PrevOut]
			if ok {
				e.Sent += v
				in += v
				delete(owned, ti.PrevOut)
			} else {
				allMine = false
			}
		}
	}
	var out uint64
	for i, o := range tx.Outputs {
		out += o.Value
		if n.wal.Owns(o.Address) || e.Coinbase && n.wal.IsCoinbaseAddress(height, o.Address) {
			e.Received += o.Value
			owned[chain.OutPoint{TxID: e.TxID, Index: uint32(i)}] = o.Value
		}
	}
	if e.Sent == 0 && e.Received == 0 {
		return e, false
	}
	if allMine && in >= out {
		e.Fee = in - out
	}
	return e, true
}
