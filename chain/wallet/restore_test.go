package wallet_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
)

// testChain is a chain on a memory store with a block generator.
type testChain struct {
	t  *testing.T
	g  *chaintest.Generator
	bc *chain.BlockChain
	n  int
}

func newTestChain(t *testing.T) *testChain {
	t.Helper()
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	return &testChain{t: t, g: g, bc: bc}
}

// mine connects a block whose coinbase pays to (the zero address: the
// generator's own key).
func (c *testChain) mine(to chain.Address, opts ...chaintest.Opt) *chain.Block {
	c.t.Helper()
	miner := c.g.Addr
	if to != (chain.Address{}) {
		c.g.Addr = to
	}
	c.n++
	b := c.g.NextBlock(fmt.Sprintf("b%d", c.n), nil, opts...)
	c.g.Addr = miner
	if res, err := c.bc.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
		c.t.Fatalf("block %d: %+v %v", c.n, res, err)
	}
	return b
}

func (c *testChain) height() uint64 { return c.bc.Tip().Height }

func keyAddr(k ed25519.PrivateKey) chain.Address {
	return chain.AddressOf(k.Public().(ed25519.PublicKey))
}

// TestRestoreFromEarlyCopy: a copy of wallet.json taken right after it
// was created finds every coin paid later (to addresses handed out after
// the copy, to the coinbase branch), once Discover has looked at the
// chain.
func TestRestoreFromEarlyCopy(t *testing.T) {
	const (
		cb = -1 // a coinbase of the wallet's miner (the coinbase branch)
	)
	for _, c := range []struct {
		name string
		// payees: main-branch key indexes, or cb
		payees []int
		// missed: payees the restore cannot see (beyond the gap limit)
		missed int
	}{
		{"first addresses", []int{0, 1, 2}, 0},
		{"address handed out late", []int{wallet.GapLimit - 1}, 0},
		{"a chain of gaps", []int{wallet.GapLimit - 1, 2*wallet.GapLimit - 2, 3*wallet.GapLimit - 3}, 0},
		{"mined blocks", []int{cb, cb, cb, 5, cb}, 0},
		{"beyond the gap limit", []int{3, wallet.GapLimit + 4}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := newTestChain(t)
			p := tc.g.Params
			dir := t.TempDir()
			path := filepath.Join(dir, "wallet.json")
			w, err := wallet.Create(path, p)
			if err != nil {
				t.Fatal(err)
			}
			early, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want, missed uint64
			for i, k := range c.payees {
				var to chain.Address
				if k == cb {
					to = w.CoinbaseAddress(tc.height() + 1)
				} else {
					to = keyAddr(wallet.DeriveKey(w.Seed(), uint32(k)))
				}
				b := tc.mine(to)
				if err := w.NoteBlock(b); err != nil {
					t.Fatal(err)
				}
				if i >= len(c.payees)-c.missed {
					missed += b.Txs[0].Outputs[0].Value
				} else {
					want += b.Txs[0].Outputs[0].Value
				}
			}
			// The live wallet saw every block: it has every coin.
			sp, im, err := w.Balance(tc.bc, nil)
			if err != nil || c.missed == 0 && sp+im != want {
				t.Fatalf("live wallet: %d + %d (%v), want %d", sp, im, err, want+missed)
			}
			// The early copy, restored.
			rpath := filepath.Join(dir, "restored.json")
			if err := os.WriteFile(rpath, early, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := wallet.Open(rpath, p)
			if err != nil {
				t.Fatal(err)
			}
			if sp, im, _ := r.Balance(tc.bc, nil); sp+im != 0 && len(c.payees) > 0 && c.payees[0] != 0 {
				t.Logf("before Discover: %d", sp+im)
			}
			if _, err := r.Discover(tc.bc); err != nil {
				t.Fatal(err)
			}
			sp, im, err = r.Balance(tc.bc, nil)
			if err != nil || sp+im != want {
				t.Errorf("restored copy: %d + %d (%v), want %d (of %d paid)", sp, im, err, want, want+missed)
			}
			// The restore never hands out an address already paid.
			a, _, err := r.NewAddress()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range c.payees[:len(c.payees)-c.missed] {
				if k != cb && a == keyAddr(wallet.DeriveKey(w.Seed(), uint32(k))) {
					t.Errorf("the restored wallet hands out key %d again", k)
				}
			}
			// What Discover found is in the file once flushed (a node
			// flushes when it stops): a reopen needs no new scan.
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			r2, err := wallet.Open(rpath, p)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(r2.Addresses()), len(r.Addresses()); got != want {
				t.Errorf("reopened restore hands out from %d, want %d", got, want)
			}
			if sp, im, err := r2.Balance(tc.bc, nil); err != nil || sp+im != want {
				t.Errorf("reopened restore (no Discover): %d + %d (%v), want %d", sp, im, err, want)
			}
		})
	}
}

// TestReadOnly: a read-only wallet finds coins but never writes its file,
// and refuses what would change it.
func TestReadOnly(t *testing.T) {
	tc := newTestChain(t)
	p := tc.g.Params
	path := filepath.Join(t.TempDir(), "wallet.json")
	w, err := wallet.Create(path, p)
	if err != nil {
		t.Fatal(err)
	}
	tc.mine(keyAddr(wallet.DeriveKey(w.Seed(), 7)))
	tc.mine(w.CoinbaseAddress(2))
	before, _ := os.ReadFile(path)
	r, err := wallet.OpenReadOnly(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Discover(tc.bc); err != nil || n != 2 {
		t.Fatalf("Discover: %d, %v; want 2 keys", n, err)
	}
	if sp, im, _ := r.Balance(tc.bc, nil); sp+im != 2*p.Subsidy(1) {
		t.Errorf("read-only balance %d, want %d", sp+im, 2*p.Subsidy(1))
	}
	if _, _, err := r.NewAddress(); !errors.Is(err, wallet.ErrReadOnly) {
		t.Errorf("NewAddress on a read-only wallet: %v", err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a read-only wallet changed its file:\n%s\n->\n%s", before, after)
	}
}

// TestUnconfirmedPersist: the wallet's own unconfirmed payments survive a
// reopen and leave the file once a block includes them.
func TestUnconfirmedPersist(t *testing.T) {
	tc := newTestChain(t)
	p := tc.g.Params
	pool := mempool.New(mempool.Config{Chain: tc.bc})
	tc.bc.Subscribe(pool.HandleTipEvent)
	path := filepath.Join(t.TempDir(), "wallet.json")
	w, err := wallet.Create(path, p)
	if err != nil {
		t.Fatal(err)
	}
	for h := uint64(1); h <= p.CoinbaseMaturity+1; h++ {
		if err := w.NoteBlock(tc.mine(w.CoinbaseAddress(h))); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := w.Pay(tc.bc, pool, tc.g.Addr, p.Subsidy(1)/2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Add(tx); err != nil {
		t.Fatal(err)
	}
	if err := w.AddUnconfirmed(tx); err != nil {
		t.Fatal(err)
	}
	r, err := wallet.Open(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if u := r.Unconfirmed(); len(u) != 1 || u[0].TxID() != tx.TxID() {
		t.Fatalf("reopened wallet: %d unconfirmed payments, want %s", len(u), tx.TxID())
	}
	// A block includes it: it leaves the file.
	txs, _ := pool.Template(1 << 20)
	b := tc.mine(chain.Address{}, chaintest.Txs(txs...))
	if err := r.NoteBlock(b); err != nil {
		t.Fatal(err)
	}
	r2, err := wallet.Open(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if u := r2.Unconfirmed(); len(u) != 0 {
		t.Errorf("confirmed payment still recorded: %d", len(u))
	}
	// DropUnconfirmed forgets one and frees its coins.
	tx2, err := r2.Pay(tc.bc, pool, tc.g.Addr, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.AddUnconfirmed(tx2); err != nil {
		t.Fatal(err)
	}
	if err := r2.DropUnconfirmed(tx2.TxID()); err != nil {
		t.Fatal(err)
	}
	if u := r2.Unconfirmed(); len(u) != 0 {
		t.Errorf("dropped payment still recorded")
	}
}

// TestMessagesInCoins: payment errors name amounts and limits in coins.
func TestMessagesInCoins(t *testing.T) {
	tc := newTestChain(t)
	p := tc.g.Params
	w, err := wallet.FromSeed("", p, [32]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		amount, fee uint64
		want        string
	}{
		{"over the money supply", 99999999999999999, 1, "amount 999999999.99999999 GC is above the limit of 21000000 GC"},
		{"zero", 0, 1, "the amount is zero"},
		{"fee rate", 1, wallet.MaxFeeRate + 1, "fee rate"},
		{"overdraft", 100000 * chain.AtomsPerCoin, 1, "insufficient funds: have 0 GC spendable, need 100000.00000176 GC (amount + fee)"},
	} {
		_, err := w.Pay(tc.bc, nil, tc.g.Addr, c.amount, c.fee)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		atoms uint64
		want  string
	}{{0, "0"}, {1, "0.00000001"}, {150000000, "1.5"}, {1444849999998, "14448.49999998"}} {
		if got := wallet.FormatCoins(c.atoms); got != c.want {
			t.Errorf("FormatCoins(%d) = %q, want %q", c.atoms, got, c.want)
		}
	}
}

// TestTruncatedFile: a truncated wallet file is one message naming the
// file once.
func TestTruncatedFile(t *testing.T) {
	p := chaintest.Params()
	path := filepath.Join(t.TempDir(), "wallet.json")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := wallet.Open(path, p)
	if !errors.Is(err, wallet.ErrWalletFile) || strings.Count(err.Error(), path) != 1 || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
}
