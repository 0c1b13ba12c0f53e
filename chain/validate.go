package chain

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// BehaviorFlags relax CheckBlockSanity for callers that validate blocks
// that are not yet sealed. The zero value is full validation; a block that
// passes with some flags passes with any superset of them (monotone).
type BehaviorFlags uint32

const (
	// BFNoPoWCheck skips the proof-of-work check (block templates).
	BFNoPoWCheck BehaviorFlags = 1 << iota
	// BFNoContributionCheck skips the per-contribution state.CheckContribution
	// (callers that checked each contribution when it arrived by gossip).
	BFNoContributionCheck
)

// CheckTxSanity checks the rules a transaction must meet on its own: version,
// input and output counts, values and their sum against MaxMoney, no
// duplicate inputs, no null prevout outside a coinbase, and the payload
// rules. A coinbase may have 1..1+MaxContributions outputs (miner and
// contributors); other transactions 1..2 (payment and change), each > 0.
// The coinbase height (payload) is checked by CheckBlockSanity.
func CheckTxSanity(p *Params, tx *Tx) error {
	if p == nil {
		return ruleError(ErrBadParams, "check tx: nil params")
	}
	if tx == nil {
		return ruleError(ErrNoTxInputs, "nil transaction")
	}
	if tx.Version != TxVersion {
		return ruleError(ErrBadVersion, "tx %s: version %d, want %d", tx.TxID(), tx.Version, TxVersion)
	}
	coinbase := tx.IsCoinbase()
	switch {
	case len(tx.Inputs) == 0:
		return ruleError(ErrNoTxInputs, "tx %s has no inputs", tx.TxID())
	case len(tx.Inputs) > MaxTxInputs:
		return ruleError(ErrTooLarge, "tx %s has %d inputs, limit %d", tx.TxID(), len(tx.Inputs), MaxTxInputs)
	}
	maxOuts := MaxTxOutputs
	if coinbase {
		maxOuts = 1 + p.MaxContributions
	}
	if len(tx.Outputs) == 0 || len(tx.Outputs) > maxOuts {
		kind := "transaction"
		if coinbase {
			kind = "coinbase"
		}
		return ruleError(ErrBadTxOutputs, "tx %s: %s with %d outputs, want 1..%d", tx.TxID(), kind, len(tx.Outputs), maxOuts)
	}
	var sum uint64
	for i, out := range tx.Outputs {
		if out.Value > MaxMoney {
			return ruleError(ErrBadTxOutValue, "tx %s output %d: value %d above MaxMoney %d", tx.TxID(), i, out.Value, uint64(MaxMoney))
		}
		if out.Value == 0 && !coinbase {
			return ruleError(ErrBadTxOutValue, "tx %s output %d: zero value", tx.TxID(), i)
		}
		sum += out.Value // both ≤ MaxMoney: no overflow
		if sum > MaxMoney {
			return ruleError(ErrBadTxOutValue, "tx %s: outputs sum to more than MaxMoney %d", tx.TxID(), uint64(MaxMoney))
		}
	}
	if coinbase {
		in := &tx.Inputs[0]
		if in.PubKey != ([32]byte{}) || in.Signature != ([64]byte{}) {
			return ruleError(ErrBadTxInput, "coinbase %s: input key and signature must be zero", tx.TxID())
		}
		if len(tx.Payload) < 8 || len(tx.Payload) > MaxCoinbasePayload {
			return ruleError(ErrBadCoinbaseHeight, "coinbase %s: payload of %d bytes, want 8..%d starting with the height", tx.TxID(), len(tx.Payload), MaxCoinbasePayload)
		}
		return nil
	}
	if len(tx.Payload) != 0 {
		return ruleError(ErrBadPayload, "tx %s: %d payload bytes; only a coinbase has a payload", tx.TxID(), len(tx.Payload))
	}
	seen := make(map[OutPoint]struct{}, len(tx.Inputs))
	for i := range tx.Inputs {
		op := tx.Inputs[i].PrevOut
		if op.IsNull() {
			return ruleError(ErrBadTxInput, "tx %s input %d: null prevout outside a coinbase", tx.TxID(), i)
		}
		if _, dup := seen[op]; dup {
			return ruleError(ErrDuplicateTxInputs, "tx %s input %d: spends %s twice", tx.TxID(), i, op)
		}
		seen[op] = struct{}{}
	}
	return nil
}

// CoinbaseHeight returns the height a coinbase payload commits to.
func CoinbaseHeight(tx *Tx) (uint64, bool) {
	if len(tx.Payload) < 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(tx.Payload), true
}

// CheckHeaderSanity checks what a header must meet without its parent:
// version, proof of work (target within (0, PowLimit], hash ≤ target) and
// timestamp ≤ now + MaxFutureDrift. ErrTimeTooNew is not permanent: the
// block may become valid later.
func CheckHeaderSanity(p *Params, h *Header, now int64, flags BehaviorFlags) error {
	if p == nil || h == nil {
		return ruleError(ErrBadParams, "check header: nil params or header")
	}
	if h.Version != HeaderVersion {
		return ruleError(ErrBadVersion, "block %s: header version %d, want %d", h.BlockHash(), h.Version, HeaderVersion)
	}
	if flags&BFNoPoWCheck == 0 {
		if err := CheckProofOfWork(h, p.PowLimit); err != nil {
			return err
		}
	} else if _, err := TargetFromBits(h.Bits, p.PowLimit); err != nil {
		return err
	}
	if err := CheckTimestamp(p, h.Timestamp, math.MinInt64, now); err != nil {
		return ruleError(kindOf(err), "block %s: %v", h.BlockHash(), err)
	}
	return nil
}

// CheckBlockSanity runs every check that needs neither the parent nor the
// UTXO set, cheapest first: header sanity, size caps, the coinbase rules,
// the tx root, duplicate txids, per-tx sanity, no outpoint spent twice in the
// block, and the gradient rules (count, bytes, gradient root, each
// contribution passes state.CheckContribution, no duplicates). A failure
// after the header checks means the body does not belong to the header, so
// callers must not remember the block hash as invalid (CVE-2012-2459).
func CheckBlockSanity(p *Params, blk *Block, now int64, flags BehaviorFlags) error {
	if p == nil {
		return ruleError(ErrBadParams, "check block: nil params")
	}
	if blk == nil {
		return ruleError(ErrNoTransactions, "nil block")
	}
	h := &blk.Header
	if err := CheckHeaderSanity(p, h, now, flags); err != nil {
		return err
	}
	if n := len(blk.Contributions); n > p.MaxContributions {
		return ruleError(ErrGradientTooLarge, "block %s: %d contributions, limit %d", h.BlockHash(), n, p.MaxContributions)
	}
	if n := blk.GradientSize(); n > p.MaxGradientSize {
		return ruleError(ErrGradientTooLarge, "block %s: %d gradient bytes, limit %d", h.BlockHash(), n, p.MaxGradientSize)
	}
	if len(blk.Txs) == 0 {
		return ruleError(ErrNoTransactions, "block %s has no transactions", h.BlockHash())
	}
	if len(blk.Txs) > MaxBlockTxs {
		return ruleError(ErrBlockTooLarge, "block %s: %d transactions, limit %d", h.BlockHash(), len(blk.Txs), MaxBlockTxs)
	}
	for i, tx := range blk.Txs {
		if tx == nil {
			return ruleError(ErrNoTransactions, "block %s: transaction %d is nil", h.BlockHash(), i)
		}
	}
	if n := blk.SerializeSize(); n > p.MaxBlockSize {
		return ruleError(ErrBlockTooLarge, "block %s: %d bytes, limit %d", h.BlockHash(), n, p.MaxBlockSize)
	}
	if !blk.Txs[0].IsCoinbase() {
		return ruleError(ErrFirstTxNotCoinbase, "block %s: first transaction is not a coinbase", h.BlockHash())
	}
	for i, tx := range blk.Txs[1:] {
		if tx.IsCoinbase() {
			return ruleError(ErrMultipleCoinbases, "block %s: transaction %d is a second coinbase", h.BlockHash(), i+1)
		}
	}
	if root := CalcTxRoot(blk.Txs); root != h.TxRoot {
		return ruleError(ErrBadMerkleRoot, "block %s: tx root %s, header says %s", h.BlockHash(), root, h.TxRoot)
	}
	seen := make(map[Hash]struct{}, len(blk.Txs))
	for i, tx := range blk.Txs {
		id := tx.TxID()
		if _, dup := seen[id]; dup {
			return ruleError(ErrDuplicateTx, "block %s: transaction %d duplicates txid %s", h.BlockHash(), i, id)
		}
		seen[id] = struct{}{}
	}
	for i, tx := range blk.Txs {
		if err := CheckTxSanity(p, tx); err != nil {
			return ruleError(kindOf(err), "block %s tx %d: %v", h.BlockHash(), i, err)
		}
	}
	if ch, _ := CoinbaseHeight(blk.Txs[0]); ch != h.Height {
		return ruleError(ErrBadCoinbaseHeight, "block %s: coinbase commits to height %d, header says %d", h.BlockHash(), ch, h.Height)
	}
	spends := make(map[OutPoint]int)
	for i, tx := range blk.Txs[1:] {
		for j := range tx.Inputs {
			op := tx.Inputs[j].PrevOut
			if k, dup := spends[op]; dup {
				return ruleError(ErrDoubleSpend, "block %s: tx %d input %d spends %s, already spent by tx %d", h.BlockHash(), i+1, j, op, k)
			}
			spends[op] = i + 1
		}
	}
	if root := CalcGradientRoot(blk.Contributions); root != h.GradientRoot {
		return ruleError(ErrBadGradientRoot, "block %s: gradient root %s, header says %s", h.BlockHash(), root, h.GradientRoot)
	}
	seenC := make(map[Hash]int, len(blk.Contributions))
	for i, c := range blk.Contributions {
		ch := ContributionHash(c)
		if k, dup := seenC[ch]; dup {
			return ruleError(ErrBadContribution, "block %s: contribution %d duplicates contribution %d", h.BlockHash(), i, k)
		}
		seenC[ch] = i
		if flags&BFNoContributionCheck != 0 {
			continue
		}
		if err := state.CheckContribution(p.Training, c); err != nil {
			return ruleError(ErrBadContribution, "block %s contribution %d: %v", h.BlockHash(), i, err)
		}
	}
	return nil
}

// CheckHeaderContext checks a header against its parent: it must extend the
// parent (prev hash, height + 1), claim exactly the required difficulty
// (NextRequiredBits) and have a timestamp after mtp, the median time past
// of the parent and its ancestors (MedianTimeBlocks of them).
func CheckHeaderContext(p *Params, h *Header, parent *Header, mtp int64) error {
	if p == nil || h == nil || parent == nil {
		return ruleError(ErrBadParams, "check header context: nil params, header or parent")
	}
	hash := h.BlockHash()
	if h.PrevBlock != parent.BlockHash() {
		return ruleError(ErrMissingParent, "block %s: parent %s, given %s", hash, h.PrevBlock, parent.BlockHash())
	}
	if h.Height != parent.Height+1 {
		return ruleError(ErrBadHeight, "block %s: height %d, parent height %d", hash, h.Height, parent.Height)
	}
	if want := NextRequiredBits(p, parent.Height, parent.Timestamp); h.Bits != want {
		return ruleError(ErrUnexpectedDifficulty, "block %s: bits %08x, required %08x", hash, h.Bits, want)
	}
	if h.Timestamp <= mtp {
		return ruleError(ErrTimeTooOld, "block %s: timestamp %d not after median time past %d", hash, h.Timestamp, mtp)
	}
	return nil
}

// CheckTxInputs checks a non-coinbase transaction's inputs against view
// (the UTXO set as of its position in a block or the tip): each exists and
// is unspent, coinbase outputs are mature at height, Σin ≥ Σout. It
// returns the fee and the spent entries in input order. It checks neither
// signatures (CheckTxSignatures) nor CheckTxSanity.
func CheckTxInputs(p *Params, tx *Tx, view *UtxoView, height uint64) (uint64, []UtxoEntry, error) {
	if p == nil || tx == nil || view == nil {
		return 0, nil, ruleError(ErrBadParams, "check tx inputs: nil params, tx or view")
	}
	spent := make([]UtxoEntry, len(tx.Inputs))
	var sumIn uint64
	for i := range tx.Inputs {
		op := tx.Inputs[i].PrevOut
		e, ok, err := view.Lookup(op)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, ruleError(ErrMissingTxOut, "tx %s input %d: output %s does not exist or is spent", tx.TxID(), i, op)
		}
		if e.Coinbase && (height < e.Height || height-e.Height < p.CoinbaseMaturity) {
			return 0, nil, ruleError(ErrImmatureSpend, "tx %s input %d: coinbase output %s from height %d spent at height %d, maturity %d", tx.TxID(), i, op, e.Height, height, p.CoinbaseMaturity)
		}
		if e.Value > MaxMoney {
			return 0, nil, ruleError(ErrBadTxOutValue, "tx %s input %d: spent value %d above MaxMoney", tx.TxID(), i, e.Value)
		}
		sumIn += e.Value
		if sumIn > MaxMoney {
			return 0, nil, ruleError(ErrBadTxOutValue, "tx %s: inputs sum to more than MaxMoney", tx.TxID())
		}
		spent[i] = e
	}
	var sumOut uint64
	for _, out := range tx.Outputs {
		if out.Value > MaxMoney || sumOut+out.Value > MaxMoney {
			return 0, nil, ruleError(ErrBadTxOutValue, "tx %s: outputs above MaxMoney", tx.TxID())
		}
		sumOut += out.Value
	}
	if sumIn < sumOut {
		return 0, nil, ruleError(ErrSpendTooHigh, "tx %s: spends %d, inputs hold %d", tx.TxID(), sumOut, sumIn)
	}
	return sumIn - sumOut, spent, nil
}

// CheckTxSignatures checks every input's key against the address of the
// output it spends and its ed25519 signature over SigHash(tx, spent values,
// genesis).
func CheckTxSignatures(tx *Tx, spent []UtxoEntry, genesis Hash) error {
	if tx == nil {
		return ruleError(ErrNoTxInputs, "check signatures: nil tx")
	}
	if len(spent) != len(tx.Inputs) {
		return ruleError(ErrBadTxInput, "tx %s: %d inputs, %d spent outputs", tx.TxID(), len(tx.Inputs), len(spent))
	}
	values := make([]uint64, len(spent))
	for i, e := range spent {
		values[i] = e.Value
	}
	msg := SigHash(tx, values, genesis)
	for i, e := range spent {
		if err := VerifyInput(tx, i, msg, e.Address); err != nil {
			return err
		}
	}
	return nil
}

// connectTxs validates blk's transactions against view (the UTXO set at
// the parent) and applies them to it: inputs must exist as of their
// position in the block (earlier txs' outputs are visible, later ones are
// not), coinbase outputs be mature, Σin ≥ Σout, fees summed with overflow
// checks, the coinbase pay at most subsidy + fees, and every signature
// verify. It returns the spent outputs in spend order (undo data) and the
// fees. On error the view is left partly modified: callers discard it.
func connectTxs(p *Params, view *UtxoView, blk *Block, genesis Hash) ([]Utxo, uint64, error) {
	height := blk.Header.Height
	if err := view.Prefetch(blockInputs(blk)); err != nil {
		return nil, 0, err
	}
	type sigJob struct {
		tx    *Tx
		spent []UtxoEntry
	}
	var (
		undo []Utxo
		fees uint64
		jobs = make([]sigJob, 0, len(blk.Txs))
	)
	for i, tx := range blk.Txs {
		id := tx.TxID()
		if i > 0 {
			fee, spent, err := CheckTxInputs(p, tx, view, height)
			if err != nil {
				return nil, 0, err
			}
			fees += fee
			if fees > MaxMoney {
				return nil, 0, ruleError(ErrBadTxOutValue, "block %s: fees sum to more than MaxMoney", blk.Hash())
			}
			for j := range tx.Inputs {
				op := tx.Inputs[j].PrevOut
				if _, ok, err := view.Spend(op); err != nil {
					return nil, 0, err
				} else if !ok {
					return nil, 0, ruleError(ErrDoubleSpend, "tx %s input %d: %s spent twice", id, j, op)
				}
				undo = append(undo, Utxo{OutPoint: op, Entry: spent[j]})
			}
			jobs = append(jobs, sigJob{tx, spent})
		}
		for j, out := range tx.Outputs {
			e := UtxoEntry{Value: out.Value, Address: out.Address, Height: height, Coinbase: i == 0}
			ok, err := view.Add(OutPoint{TxID: id, Index: uint32(j)}, e)
			if err != nil {
				return nil, 0, err
			}
			if !ok {
				return nil, 0, ruleError(ErrOverwriteTx, "tx %s output %d: overwrites an unspent output", id, j)
			}
		}
	}
	var cbOut uint64
	for _, out := range blk.Txs[0].Outputs {
		cbOut += out.Value // ≤ MaxMoney by CheckTxSanity
	}
	if limit := p.Subsidy(height) + fees; cbOut > limit {
		return nil, 0, ruleError(ErrBadCoinbaseValue, "block %s: coinbase pays %d, subsidy %d + fees %d = %d", blk.Hash(), cbOut, p.Subsidy(height), fees, limit)
	}
	errs := make([]error, len(jobs))
	parallelFor(len(jobs), func(i int) { errs[i] = CheckTxSignatures(jobs[i].tx, jobs[i].spent, genesis) })
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	return undo, fees, nil
}

// disconnectTxs undoes blk in view: removes the outputs it created and
// restores the outputs it spent (undo, in spend order).
func disconnectTxs(view *UtxoView, blk *Block, undo []Utxo) error {
	if err := view.Prefetch(blockOutPoints(blk)); err != nil {
		return err
	}
	if err := view.Prefetch(utxoOutPoints(undo)); err != nil {
		return err
	}
	k := len(undo)
	for i := len(blk.Txs) - 1; i >= 0; i-- {
		tx := blk.Txs[i]
		id := tx.TxID()
		for j := len(tx.Outputs) - 1; j >= 0; j-- {
			op := OutPoint{TxID: id, Index: uint32(j)}
			if _, ok, err := view.Spend(op); err != nil {
				return err
			} else if !ok {
				return ruleError(ErrStore, "disconnect block %s: output %s missing from the UTXO set", blk.Hash(), op)
			}
		}
		if i == 0 {
			continue
		}
		for j := len(tx.Inputs) - 1; j >= 0; j-- {
			k--
			if k < 0 || undo[k].OutPoint != tx.Inputs[j].PrevOut {
				return ruleError(ErrStore, "disconnect block %s: undo data does not match tx %s input %d", blk.Hash(), id, j)
			}
			if ok, err := view.Add(undo[k].OutPoint, undo[k].Entry); err != nil {
				return err
			} else if !ok {
				return ruleError(ErrStore, "disconnect block %s: restored output %s already unspent", blk.Hash(), undo[k].OutPoint)
			}
		}
	}
	if k != 0 {
		return ruleError(ErrStore, "disconnect block %s: %d undo entries left over", blk.Hash(), k)
	}
	return nil
}

func blockOutPoints(blk *Block) []OutPoint {
	var ops []OutPoint
	for _, tx := range blk.Txs {
		id := tx.TxID()
		for j := range tx.Outputs {
			ops = append(ops, OutPoint{TxID: id, Index: uint32(j)})
		}
	}
	return ops
}

func utxoOutPoints(us []Utxo) []OutPoint {
	ops := make([]OutPoint, len(us))
	for i, u := range us {
		ops[i] = u.OutPoint
	}
	return ops
}

// kindOf returns the ErrorKind inside err, or ErrStore for foreign errors.
func kindOf(err error) ErrorKind {
	switch e := err.(type) {
	case RuleError:
		return e.Err
	case ErrorKind:
		return e
	}
	return ErrStore
}

// parallelFor runs fn(0..n-1) on up to GOMAXPROCS goroutines. Results must
// be written to per-index slots so the outcome never depends on scheduling.
func parallelFor(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/16+1)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
