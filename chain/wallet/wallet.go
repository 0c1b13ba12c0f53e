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
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Errors of this package (besides chain.ErrInsufficientFunds).
var (
	// ErrWalletFile: the wallet file is missing, malformed, or for another network.
	ErrWalletFile = errors.New("wallet file")
	// ErrExists: Create found a wallet file already there.
	ErrExists = errors.New("wallet file already exists")
	// ErrBadPayment: an amount of zero, or an amount or fee rate above
	// its limit (the message names the limit in coins).
	ErrBadPayment = errors.New("bad payment")
	// ErrReadOnly: a change (a new address, a payment) to a wallet opened
	// read-only.
	ErrReadOnly = errors.New("wallet opened read-only")
)

// MaxKeys bounds the number of derived keys a wallet hands out.
const MaxKeys = 1 << 20

// spentCoinbaseDepth: a coinbase key of the wallet whose coins are gone
// and that is this many blocks deep is no longer looked up.
const spentCoinbaseDepth = 100

// GapLimit is how far past the keys it has handed out the wallet looks
// for payments: keys next .. next+GapLimit-1 are recognised too, and a
// payment to one of them (seen in a connected block, or found by
// Discover) moves next past it. So a copy of the wallet file taken
// before up to GapLimit further addresses were handed out still finds
// every coin.
const GapLimit = 1000

// MaxFeeRate is the highest fee rate (atoms per byte) Pay accepts: the fee
// of the largest possible transaction stays within MaxMoney.
const MaxFeeRate = chain.MaxMoney / (16 + 132*chain.MaxTxInputs + 28*2)

// InsufficientFundsError says how much was spendable and how much a payment
// needed (amount + fee). errors.Is(err, chain.ErrInsufficientFunds) holds.
type InsufficientFundsError struct {
	Have, Need uint64
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("insufficient funds: have %s GC spendable, need %s GC (amount + fee)", FormatCoins(e.Have), FormatCoins(e.Need))
}

// FormatCoins renders atoms as a decimal number of coins ("12.5",
// "0.00000001").
func FormatCoins(a uint64) string {
	whole, frac := a/chain.AtomsPerCoin, a%chain.AtomsPerCoin
	s := strconv.FormatUint(whole, 10)
	if frac == 0 {
		return s
	}
	f := strings.TrimRight(strconv.FormatUint(frac+chain.AtomsPerCoin, 10)[1:], "0")
	return s + "." + f
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

// DeriveCoinbaseKey returns the key of the coinbase branch for the block
// at height: ed25519 from TaggedHash("gradientcoin/wallet-coinbase-key",
// seed, height as u64 LE). A miner pays its coinbase at height h to this
// key, so its mined coins are found by height (Discover) however many
// blocks it mined since the wallet file was copied.
func DeriveCoinbaseKey(seed [32]byte, height uint64) ed25519.PrivateKey {
	s := chain.TaggedHash("gradientcoin/wallet-coinbase-key", seed[:], binary.LittleEndian.AppendUint64(nil, height))
	return ed25519.NewKeyFromSeed(s[:])
}

func addressOf(k ed25519.PrivateKey) chain.Address {
	return chain.AddressOf(k.Public().(ed25519.PublicKey))
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
	mu       sync.Mutex
	path     string
	p        *chain.Params
	seed     [32]byte
	readOnly bool
	dirty    bool // the coinbase scan or keys changed since the last save

	next    uint32                   // keys handed out
	derived uint32                   // keys in keys: next+GapLimit (at most MaxKeys)
	keys    map[chain.Address]uint32 // main branch: address → index, below derived
	addrs   []chain.Address          // main branch: index → address, below derived

	cbKeys  map[chain.Address]uint64 // coinbase branch: address → height, paid the wallet (not known spent)
	scanned uint64                   // coinbase heights 1..scanned were looked at

	pending     map[chain.OutPoint]chain.Hash // outputs spent by this wallet's unconfirmed payments
	unconfirmed []*chain.Tx                   // this wallet's payments not yet in a block (persisted)
}

type fileFormat struct {
	Version int    `json:"version"`
	Network string `json:"network"`
	Genesis string `json:"genesis"`
	Seed    string `json:"seed"`
	Next    uint32 `json:"next"`
	// CoinbaseScanned: the coinbase heights up to it were looked at;
	// CoinbaseHeights: those among them whose coinbase paid the wallet
	// and is not known to be spent.
	CoinbaseScanned uint64   `json:"coinbase_scanned,omitempty"`
	CoinbaseHeights []uint64 `json:"coinbase_heights,omitempty"`
	// Unconfirmed holds the wallet's own payments not yet in a block
	// (hex of the transaction encoding), so they survive a restart.
	Unconfirmed []string `json:"unconfirmed,omitempty"`
}

// newWallet returns a wallet with the main-branch window derived.
func newWallet(path string, p *chain.Params, seed [32]byte, next uint32) *Wallet {
	w := &Wallet{path: path, p: p, seed: seed, next: next,
		keys: make(map[chain.Address]uint32), cbKeys: make(map[chain.Address]uint64),
		pending: make(map[chain.OutPoint]chain.Hash)}
	w.extend()
	return w
}

// extend derives the main-branch keys up to next+GapLimit (on every CPU:
// a fresh wallet derives GapLimit keys at once).
func (w *Wallet) extend() {
	end := uint32(min(uint64(w.next)+GapLimit, MaxKeys))
	if end <= w.derived {
		return
	}
	start := w.derived
	add := make([]chain.Address, end-start)
	workers := min(runtime.GOMAXPROCS(0), (len(add)+63)/64)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := k; j < len(add); j += workers {
				add[j] = addressOf(DeriveKey(w.seed, start+uint32(j)))
			}
		}()
	}
	wg.Wait()
	for j, a := range add {
		w.keys[a] = start + uint32(j)
	}
	w.addrs = append(w.addrs, add...)
	w.derived = end
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
	w := newWallet(path, p, seed, 0)
	if err := w.save(); err != nil {
		return nil, err
	}
	return w, nil
}

// Open reads a wallet file written by Create for the network p.
func Open(path string, p *chain.Params) (*Wallet, error) {
	return open(path, p, false)
}

// OpenReadOnly reads a wallet file and never writes it: what Discover
// finds stays in memory, and NewAddress, Pay and AddUnconfirmed fail with
// ErrReadOnly (commands that only read a data directory).
func OpenReadOnly(path string, p *chain.Params) (*Wallet, error) {
	return open(path, p, true)
}

func open(path string, p *chain.Params, readOnly bool) (*Wallet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err
		}
		return nil, fmt.Errorf("%w %s: %v", ErrWalletFile, path, err)
	}
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w %s: truncated (%d bytes): restore it from a backup", ErrWalletFile, path, len(raw))
		}
		return nil, fmt.Errorf("%w %s: %v", ErrWalletFile, path, err)
	}
	switch {
	case f.Version != 1:
		return nil, fmt.Errorf("%w %s: version %d, want 1", ErrWalletFile, path, f.Version)
	case f.Network != p.Name || f.Genesis != p.GenesisHash.String():
		return nil, fmt.Errorf("%w %s is for network %s (genesis %s), not %s", ErrWalletFile, path, f.Network, f.Genesis, p)
	case f.Next > MaxKeys:
		return nil, fmt.Errorf("%w %s: %d keys, limit %d", ErrWalletFile, path, f.Next, MaxKeys)
	}
	s, err := hex.DecodeString(f.Seed)
	if err != nil || len(s) != 32 {
		return nil, fmt.Errorf("%w %s: seed must be 64 hex digits", ErrWalletFile, path)
	}
	var seed [32]byte
	copy(seed[:], s)
	w := newWallet(path, p, seed, f.Next)
	w.readOnly = readOnly
	w.scanned = f.CoinbaseScanned
	for _, h := range f.CoinbaseHeights {
		w.cbKeys[addressOf(DeriveCoinbaseKey(w.seed, h))] = h
	}
	for i, h := range f.Unconfirmed {
		b, err := hex.DecodeString(h)
		var tx *chain.Tx
		if err == nil {
			tx, err = chain.DecodeTx(b)
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: unconfirmed transaction %d: %v", ErrWalletFile, path, i, err)
		}
		w.unconfirmed = append(w.unconfirmed, tx)
	}
	return w, nil
}

// save writes the wallet file atomically: temp file, fsync, rename, fsync
// the directory. A read-only or in-memory wallet writes nothing.
func (w *Wallet) save() error {
	if w.path == "" || w.readOnly {
		return nil
	}
	f := fileFormat{
		Version: 1, Network: w.p.Name, Genesis: w.p.GenesisHash.String(),
		Seed: hex.EncodeToString(w.seed[:]), Next: w.next, CoinbaseScanned: w.scanned,
	}
	for _, h := range w.cbKeys {
		f.CoinbaseHeights = append(f.CoinbaseHeights, h)
	}
	slices.Sort(f.CoinbaseHeights)
	for _, tx := range w.unconfirmed {
		f.Unconfirmed = append(f.Unconfirmed, hex.EncodeToString(tx.Bytes()))
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(w.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	tf, err := os.CreateTemp(dir, filepath.Base(w.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWalletFile, err)
	}
	tmp := tf.Name()
	fail := func(err error) error {
		tf.Close()
		os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %v", ErrWalletFile, w.path, err)
	}
	if err := tf.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tf.Write(append(data, '\n')); err != nil {
		return fail(err)
	}
	if err := tf.Sync(); err != nil {
		return fail(err)
	}
	if err := tf.Close(); err != nil {
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
	w.dirty = false
	return nil
}

// Flush writes the wallet file if the coinbase scan or the coinbase keys
// changed since the last write (a node calls it when it stops; until
// then Discover finds them again after a crash).
func (w *Wallet) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return nil
	}
	return w.save()
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
	if w.readOnly {
		return chain.Address{}, fmt.Errorf("%w: no new address", ErrReadOnly)
	}
	if w.next >= MaxKeys {
		return chain.Address{}, fmt.Errorf("%w: all %d keys used", ErrWalletFile, MaxKeys)
	}
	i := w.next
	w.next++
	if err := w.save(); err != nil {
		w.next--
		return chain.Address{}, err
	}
	w.extend()
	return w.addrs[i], nil
}

// CoinbaseAddress returns the address the coinbase of a block at height
// pays (the coinbase branch, DeriveCoinbaseKey). It writes nothing: the
// address is a function of the seed and the height.
func (w *Wallet) CoinbaseAddress(height uint64) chain.Address {
	return addressOf(DeriveCoinbaseKey(w.seed, height))
}

// IsCoinbaseAddress reports whether addr is the wallet's coinbase address
// for height.
func (w *Wallet) IsCoinbaseAddress(height uint64, addr chain.Address) bool {
	w.mu.Lock()
	h, ok := w.cbKeys[addr]
	w.mu.Unlock()
	if ok {
		return h == height
	}
	return addressOf(DeriveCoinbaseKey(w.seed, height)) == addr
}

// Addresses returns every address handed out, oldest first.
func (w *Wallet) Addresses() []chain.Address {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.addrs[:w.next])
}

// coinAddresses are the addresses whose coins the wallet counts: the
// main-branch keys handed out and the coinbase keys known to have paid it.
func (w *Wallet) coinAddresses() []chain.Address {
	out := make([]chain.Address, 0, int(w.next)+len(w.cbKeys))
	out = append(out, w.addrs[:w.next]...)
	for a := range w.cbKeys {
		out = append(out, a)
	}
	return out
}

// Owns reports whether addr is one of the wallet's addresses: a
// main-branch key below next+GapLimit, or a coinbase key it knows.
func (w *Wallet) Owns(addr chain.Address) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.keys[addr]; ok {
		return true
	}
	_, ok := w.cbKeys[addr]
	return ok
}

// markUsed moves next past main-branch key i (paid on chain); it reports
// whether next moved.
func (w *Wallet) markUsed(i uint32) bool {
	if i < w.next {
		return false
	}
	w.next = i + 1
	w.extend()
	return true
}

// Discover looks on the chain for coins the wallet file does not know
// about (a copy of the file older than the chain): payments to the
// main-branch keys up to GapLimit past the last one found, and coinbases
// paid to the coinbase key of every height not looked at yet. Found keys
// move next past them. It returns how many keys it found; the file is
// written (unless read-only) when next moved.
func (w *Wallet) Discover(src Source) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	found, moved := 0, false
	for i := w.next; i < w.derived; i++ {
		us, _, err := src.UtxosByAddress(w.addrs[i])
		if err != nil {
			return found, err
		}
		if len(us) > 0 {
			found++
			moved = w.markUsed(i) || moved // extends the window: the loop goes on
		}
	}
	_, tip, err := src.UtxosByAddress(chain.Address{}) // for the tip height
	if err != nil {
		return found, err
	}
	for h := w.scanned + 1; h <= tip; h++ {
		a := addressOf(DeriveCoinbaseKey(w.seed, h))
		us, _, err := src.UtxosByAddress(a)
		if err != nil {
			return found, err
		}
		if len(us) > 0 {
			w.cbKeys[a] = h
			w.dirty = true
			found++
		}
	}
	if tip > w.scanned {
		w.scanned, w.dirty = tip, true
	}
	if moved {
		return found, w.save()
	}
	return found, nil
}

// NoteBlock updates the wallet for a block connected to the main chain:
// its coinbase, if it pays the wallet's coinbase key of its height, is
// remembered; a payment to a main-branch key past next moves next past
// it; the wallet's unconfirmed payments that the block includes, or whose
// inputs it spends, are forgotten. The file is written when next moved
// or the unconfirmed payments changed.
func (w *Wallet) NoteBlock(b *chain.Block) error {
	height := b.Header.Height
	var cb chain.Address
	if len(b.Txs) > 0 && len(b.Txs[0].Outputs) > 0 {
		cb = b.Txs[0].Outputs[0].Address
	}
	isCB := cb != chain.Address{} && w.IsCoinbaseAddress(height, cb)
	w.mu.Lock()
	defer w.mu.Unlock()
	if isCB {
		w.cbKeys[cb] = height
		w.dirty = true
	}
	if height == w.scanned+1 {
		w.scanned, w.dirty = height, true
	}
	save := false
	spent := map[chain.OutPoint]bool{}
	inBlock := map[chain.Hash]bool{}
	for _, tx := range b.Txs {
		for _, o := range tx.Outputs {
			if i, ok := w.keys[o.Address]; ok {
				save = w.markUsed(i) || save
			}
		}
		if tx.IsCoinbase() {
			continue
		}
		inBlock[tx.TxID()] = true
		for _, in := range tx.Inputs {
			spent[in.PrevOut] = true
		}
	}
	kept := w.unconfirmed[:0]
	for _, tx := range w.unconfirmed {
		drop := inBlock[tx.TxID()]
		for _, in := range tx.Inputs {
			drop = drop || spent[in.PrevOut]
		}
		if drop {
			save = true
			continue
		}
		kept = append(kept, tx)
	}
	clear(w.unconfirmed[len(kept):])
	w.unconfirmed = kept
	if save {
		return w.save()
	}
	return nil
}

// AddUnconfirmed records one of the wallet's payments that a mempool
// accepted, in the wallet file, until a block includes it (NoteBlock) or
// it is dropped (DropUnconfirmed); its inputs stay pending meanwhile.
func (w *Wallet) AddUnconfirmed(tx *chain.Tx) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.readOnly {
		return fmt.Errorf("%w: cannot record payment %s", ErrReadOnly, tx.TxID())
	}
	id := tx.TxID()
	for _, t := range w.unconfirmed {
		if t.TxID() == id {
			return nil
		}
	}
	w.unconfirmed = append(w.unconfirmed, tx)
	for _, in := range tx.Inputs {
		w.pending[in.PrevOut] = id
	}
	if err := w.save(); err != nil {
		w.unconfirmed = w.unconfirmed[:len(w.unconfirmed)-1]
		return err
	}
	return nil
}

// Unconfirmed returns the wallet's recorded payments not yet in a block,
// oldest first.
func (w *Wallet) Unconfirmed() []*chain.Tx {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.unconfirmed)
}

// DropUnconfirmed forgets a recorded payment (no mempool takes it any
// more: it conflicts with the chain) and releases its inputs.
func (w *Wallet) DropUnconfirmed(txid chain.Hash) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for op, id := range w.pending {
		if id == txid {
			delete(w.pending, op)
		}
	}
	i := slices.IndexFunc(w.unconfirmed, func(t *chain.Tx) bool { return t.TxID() == txid })
	if i < 0 {
		return nil
	}
	w.unconfirmed = slices.Delete(w.unconfirmed, i, i+1)
	return w.save()
}

// keyFor returns the private key of a wallet address.
func (w *Wallet) keyFor(a chain.Address) (ed25519.PrivateKey, bool) {
	if i, ok := w.keys[a]; ok {
		return DeriveKey(w.seed, i), true
	}
	if h, ok := w.cbKeys[a]; ok {
		return DeriveCoinbaseKey(w.seed, h), true
	}
	return nil, false
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
	for _, a := range w.coinAddresses() {
		us, tip, err := src.UtxosByAddress(a)
		if err != nil {
			return nil, nil, err
		}
		if h, ok := w.cbKeys[a]; ok && len(us) == 0 && h+spentCoinbaseDepth < tip {
			delete(w.cbKeys, a) // spent long ago: no need to look again
			w.dirty = true
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
	switch {
	case amount == 0:
		return nil, fmt.Errorf("%w: the amount is zero", ErrBadPayment)
	case amount > chain.MaxMoney:
		return nil, fmt.Errorf("%w: amount %s GC is above the limit of %s GC (all coins there will ever be)", ErrBadPayment, FormatCoins(amount), FormatCoins(chain.MaxMoney))
	case feeRate > MaxFeeRate:
		return nil, fmt.Errorf("%w: fee rate %d atoms/byte is above the limit of %d atoms/byte", ErrBadPayment, feeRate, uint64(MaxFeeRate))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.readOnly {
		return nil, fmt.Errorf("%w: no payment", ErrReadOnly)
	}
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
		k, ok := w.keyFor(c.Entry.Address)
		if !ok {
			return nil, fmt.Errorf("%w: no key for coin %s", ErrWalletFile, c.OutPoint)
		}
		keys[i] = k
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
