package wallet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Errors of this package (besides chain.ErrInsufficientFunds).
var (
	// ErrWalletFile: the wallet file is missing, malformed, or for another network.
	ErrWalletFile = errors.New("wallet file")
	// ErrExists: Create found a wallet file already there.
	ErrExists = errors.New("wallet file already exists")
	// ErrBadPayment: an amount of zero, or an amount or fee rate that overflows.
	ErrBadPayment = errors.New("bad payment")
)

// MaxKeys bounds the number of derived keys a wallet hands out.
const MaxKeys = 1 << 20

// MaxFeeRate is the highest fee rate (atoms per byte) Pay accepts: the fee
// of the largest possible transaction stays within MaxMoney.
const MaxFeeRate = chain.MaxMoney / (16 + 132*chain.MaxTxInputs + 28*2)

// InsufficientFundsError says how much was spendable and how much a payment
// needed (amount + fee). errors.Is(err, chain.ErrInsufficientFunds) holds.
type InsufficientFundsError struct {
	Have, Need uint64
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("insufficient funds: have %d spendable atoms, need %d (amount + fee)", e.Have, e.Need)
}

// Unwrap returns chain.ErrInsufficientFunds.
func (e *InsufficientFundsError) Unwrap() error { return chain.ErrInsufficientFunds }

// DeriveKey returns key i of a seed: ed25519 from the 32-byte seed
// TaggedHash("gradientcoin/wallet-key", seed, i as u32 LE). Deterministic, so
// the seed alone restores every address.
func DeriveKey(seed [32]byte, i uint32) ed25519.PrivateKey {
	s := chain.TaggedHash("gradientcoin/wallet-key", seed[:], binary.LittleEndian.AppendUint32(nil, i))
	return ed25519.NewKeyFromSeed(s[:])
}

// Source is where the wallet reads coins (*chain.BlockChain implements it).
type Source interface {
	UtxosByAddress(addr chain.Address) ([]chain.Utxo, uint64, error)
}

// Pending reports outputs already spent by unconfirmed transactions
// (*mempool.Pool implements it). May be nil.
type Pending interface {
	SpentBy(op chain.OutPoint) (chain.Hash, bool)
}

// Wallet derives keys from a seed, hands out a fresh address per payment,
// selects coins and signs payments. It is safe for concurrent use.
type Wallet struct {
	mu      sync.Mutex
	path    string
	p       *chain.Params
	seed    [32]byte
	next    uint32
	keys    map[chain.Address]uint32
	pending map[chain.OutPoint]chain.Hash
}

type fileFormat struct {
	Version int    `json:"version"`
	Network string `json:"network"`
	Genesis string `json:"genesis"`
	Seed    string `json:"seed"`
	Next    uint32 `json:"next"`
}

// Create makes a wallet with a fresh random seed and writes it to path
// (mode 0600; "" keeps it in memory only). It fails if path exists.
func Create(path string, p *chain.Params) (*Wallet, error) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("%w: random seed: %v", ErrWalletFile, err)
	}
	return FromSeed(path, p, seed)
}

// FromSeed makes a wallet from a known seed (a restore) and writes it to
// path unless path is "". It fails if path exists.
func FromSeed(path string, p *chain.Params, seed [32]byte) (*Wallet, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil params", ErrWalletFile)
	}
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrExists, path)
		}
	}
	w := &Wallet{path: path, p: p, seed: seed, keys: make(map[chain.Address]uint32), pending: make(map[chain.OutPoint]chain.Hash)}
	if err := w.save(); err != nil {
		return nil, err
	}
	return w, nil
}

// Open reads a wallet file written by Create for the network p.
func Open(path string, p *chain.Params) (*Wallet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrWalletFile, path, err)
	}
	switch {
	case f.Version != 1:
		return nil, fmt.Errorf("%w: %s: version %d, want 1", ErrWalletFile, path, f.Version)
	case f.Network != p.Name || f.Genesis != p.GenesisHash.String():
		return nil, fmt.Errorf("%w: %s is for network %s (genesis %s), not %s", ErrWalletFile, path, f.Network, f.Genesis, p)
	case f.Next > MaxKeys:
		return nil, fmt.Errorf("%w: %s: %d keys, limit %d", ErrWalletFile, path, f.Next, MaxKeys)
	}
	s, err := hex.DecodeString(f.Seed)
	if err != nil || len(s) != 32 {
		return nil, fmt.Errorf("%w: %s: seed must be 64 hex digits", ErrWalletFile, path)
	}
	w := &Wallet{path: path, p: p, next: f.Next, keys: make(map[chain.Address]uint32), pending: make(map[chain.OutPoint]chain.Hash)}
	copy(w.seed[:], s)
	for i := uint32(0); i < w.next; i++ {
		w.keys[chain.AddressOf(DeriveKey(w.seed, i).Public().(ed25519.PublicKey))] = i
	}
	return w, nil
}

// save writes the wallet file atomically: temp file, fsync, rename, fsync
// the directory.
func (w *Wallet) save() error {
	if w.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(fileFormat{
		Version: 1, Network: w.p.Name, Genesis: w.p.GenesisHash.String(),
		Seed: hex.EncodeToString(w.seed[:]), Next: w.next,
	}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(w.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(w.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %v", ErrWalletFile, w.path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Seed returns the wallet's seed (keep it secret: it restores every key).
func (w *Wallet) Seed() [32]byte { return w.seed }

// NewAddress derives the next key and returns its address and the address
// string for the network. Every call gives a new address; the file is
// updated before the address is returned, so a crash never hands out an
// address twice.
func (w *Wallet) NewAddress() (chain.Address, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, err := w.newAddress()
	if err != nil {
		return a, "", err
	}
	return a, chain.EncodeAddress(w.p.AddressPrefix, a), nil
}

func (w *Wallet) newAddress() (chain.Address, error) {
	if w.next >= MaxKeys {
		return chain.Address{}, fmt.Errorf("%w: all %d keys used", ErrWalletFile, MaxKeys)
	}
	i := w.next
	w.next++
	if err := w.save(); err != nil {
		w.next--
		return chain.Address{}, err
	}
	a := chain.AddressOf(DeriveKey(w.seed, i).Public().(ed25519.PublicKey))
	w.keys[a] = i
	return a, nil
}

// Addresses returns every address handed out, oldest first.
func (w *Wallet) Addresses() []chain.Address {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addresses()
}

func (w *Wallet) addresses() []chain.Address {
	out := make([]chain.Address, w.next)
	for a, i := range w.keys {
		out[i] = a
	}
	return out
}

// Owns reports whether addr is one of the wallet's addresses.
func (w *Wallet) Owns(addr chain.Address) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.keys[addr]
	return ok
}

// Coins lists the wallet's unspent outputs at the source's tip, split into
// spendable ones (mature, not spent by a pending payment) and the rest
// (immature coinbases, pending).
func (w *Wallet) Coins(src Source, pending Pending) (spendable, locked []chain.Utxo, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.coins(src, pending)
}

func (w *Wallet) coins(src Source, pending Pending) (spendable, locked []chain.Utxo, err error) {
	live := make(map[chain.OutPoint]bool)
	for _, a := range w.addresses() {
		us, tip, err := src.UtxosByAddress(a)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range us {
			live[u.OutPoint] = true
			mature := !u.Entry.Coinbase || tip+1 >= u.Entry.Height+w.p.CoinbaseMaturity
			_, mine := w.pending[u.OutPoint]
			var pooled bool
			if pending != nil {
				_, pooled = pending.SpentBy(u.OutPoint)
			}
			if mature && !mine && !pooled {
				spendable = append(spendable, u)
			} else {
				locked = append(locked, u)
			}
		}
	}
	for op := range w.pending {
		if !live[op] {
			delete(w.pending, op) // spent on chain: no longer pending
		}
	}
	return spendable, locked, nil
}

// Balance returns the spendable and locked (immature or pending) totals.
func (w *Wallet) Balance(src Source, pending Pending) (spendable, locked uint64, err error) {
	s, l, err := w.Coins(src, pending)
	for _, u := range s {
		spendable += u.Entry.Value
	}
	for _, u := range l {
		locked += u.Entry.Value
	}
	return spendable, locked, err
}

// txSize is the serialized size of a payment with n inputs and k outputs.
func txSize(n, k int) uint64 { return uint64(16 + 132*n + 28*k) }

// Pay builds and signs a payment of amount atoms to `to`, paying feeRate
// atoms per byte, with change (if any) to a fresh address of the wallet.
// Coins are chosen largest first among the spendable ones. The spent
// outputs are marked pending until they leave the UTXO set or Release is
// called; the caller hands the transaction to the mempool and the network.
// A shortfall is an *InsufficientFundsError (chain.ErrInsufficientFunds).
func (w *Wallet) Pay(src Source, pending Pending, to chain.Address, amount, feeRate uint64) (*chain.Tx, error) {
	if amount == 0 || amount > chain.MaxMoney || feeRate > MaxFeeRate {
		return nil, fmt.Errorf("%w: amount %d, fee rate %d", ErrBadPayment, amount, feeRate)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	coins, _, err := w.coins(src, pending)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(coins, func(a, b chain.Utxo) int {
		switch {
		case a.Entry.Value > b.Entry.Value:
			return -1
		case a.Entry.Value < b.Entry.Value:
			return 1
		}
		ka, kb := chain.OutPointKey(a.OutPoint), chain.OutPointKey(b.OutPoint)
		return bytes.Compare(ka[:], kb[:])
	})
	var have uint64
	for _, c := range coins {
		have += c.Entry.Value
	}
	var (
		sum    uint64
		chosen []chain.Utxo
		change uint64
		ok     bool
	)
	for _, c := range coins {
		if len(chosen) == chain.MaxTxInputs {
			break
		}
		chosen = append(chosen, c)
		sum += c.Entry.Value
		n := len(chosen)
		if f1 := feeRate * txSize(n, 1); sum >= amount+f1 {
			if f2 := feeRate * txSize(n, 2); sum > amount+f2 {
				change = sum - amount - f2
			}
			ok = true
			break
		}
	}
	if !ok {
		need := amount + feeRate*txSize(max(len(coins), 1), 1)
		return nil, &InsufficientFundsError{Have: have, Need: need}
	}
	tx := &chain.Tx{Version: chain.TxVersion, Outputs: []chain.TxOut{{Value: amount, Address: to}}}
	if change > 0 {
		ca, err := w.newAddress()
		if err != nil {
			return nil, err
		}
		tx.Outputs = append(tx.Outputs, chain.TxOut{Value: change, Address: ca})
	}
	keys := make([]ed25519.PrivateKey, len(chosen))
	values := make([]uint64, len(chosen))
	for i, c := range chosen {
		tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: c.OutPoint})
		keys[i] = DeriveKey(w.seed, w.keys[c.Entry.Address])
		values[i] = c.Entry.Value
	}
	if err := chain.SignTx(tx, keys, values, w.p.GenesisHash); err != nil {
		return nil, err
	}
	id := tx.TxID()
	for _, c := range chosen {
		w.pending[c.OutPoint] = id
	}
	return tx, nil
}

// Release forgets that the outputs spent by txid are pending (the payment
// was dropped), making them spendable again.
func (w *Wallet) Release(txid chain.Hash) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for op, id := range w.pending {
		if id == txid {
			delete(w.pending, op)
		}
	}
}
