package wallet_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
)

func TestDeriveAndFile(t *testing.T) {
	p := chaintest.Params()
	dir := t.TempDir()
	path := filepath.Join(dir, "wallet.json")
	w, err := wallet.Create(path, p)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[chain.Address]bool{}
	var addrs []chain.Address
	for i := 0; i < 5; i++ {
		a, s, err := w.NewAddress()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("address %d repeats", i)
		}
		if d, err := chain.DecodeAddress(p.AddressPrefix, s); err != nil || d != a {
			t.Fatalf("address string %q: %v", s, err)
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("wallet file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := wallet.Create(path, p); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("create over an existing file: %v", err)
	}
	w2, err := wallet.Open(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.Addresses(); len(got) != 5 || got[4] != addrs[4] {
		t.Fatalf("reopened wallet addresses %v", got)
	}
	a6, _, _ := w2.NewAddress()
	if seen[a6] {
		t.Fatal("reopened wallet repeated an address")
	}
	// Restoring from the seed derives the same keys.
	r, err := wallet.FromSeed("", p, w.Seed())
	if err != nil {
		t.Fatal(err)
	}
	if a, _, _ := r.NewAddress(); a != addrs[0] {
		t.Fatal("restore from seed: first address differs")
	}
	other := chaintest.Params()
	other.Name = "othernet"
	if _, err := wallet.Open(path, other); !errors.Is(err, wallet.ErrWalletFile) {
		t.Errorf("open for another network: %v", err)
	}
	for _, c := range []struct{ name, body string }{
		{"not json", "{"},
		{"unknown field", `{"version":1,"bogus":1}`},
		{"short seed", `{"version":1,"network":"devnet","genesis":"` + p.GenesisHash.String() + `","seed":"00","next":0}`},
	} {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(c.body), 0o600)
		if _, err := wallet.Open(bad, p); !errors.Is(err, wallet.ErrWalletFile) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestPay(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	p := g.Params
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	pool := mempool.New(mempool.Config{Chain: bc})
	bc.Subscribe(pool.HandleTipEvent)
	w, err := wallet.FromSeed("", p, [32]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	mine := func(name string, opts ...chaintest.Opt) {
		t.Helper()
		b := g.NextBlock(name, nil, opts...)
		if res, err := bc.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
			t.Fatalf("%s: %+v %v", name, res, err)
		}
	}
	miner := g.Addr
	for i := 0; i < 3; i++ { // heights 1..3 pay the wallet
		a, _, _ := w.NewAddress()
		g.Addr = a
		mine("w" + string(rune('0'+i)))
	}
	g.Addr = miner
	for i := 0; i < 3; i++ { // heights 4..6: coinbases 1 and 2 mature for block 7
		mine("m" + string(rune('0'+i)))
	}
	coin := p.Subsidy(1)
	sp, locked, err := w.Balance(bc, pool)
	if err != nil || sp != 2*coin || locked != coin {
		t.Fatalf("balance: spendable %d locked %d (%v), want %d and %d", sp, locked, err, 2*coin, coin)
	}
	_, err = w.Pay(bc, pool, miner, 2*coin+1, 1)
	var ife *wallet.InsufficientFundsError
	if !errors.Is(err, chain.ErrInsufficientFunds) || !errors.As(err, &ife) || ife.Have != 2*coin || ife.Need <= 2*coin+1 {
		t.Fatalf("overspend: %v", err)
	}
	amount := coin + coin/2
	tx, err := w.Pay(bc, pool, miner, amount, 2)
	if err != nil {
		t.Fatal(err)
	}
	fee := 2 * uint64(tx.SerializeSize())
	if len(tx.Inputs) != 2 || len(tx.Outputs) != 2 || tx.Outputs[0].Value != amount || tx.Outputs[1].Value != 2*coin-amount-fee {
		t.Fatalf("payment shape: %d inputs, outputs %+v, fee %d", len(tx.Inputs), tx.Outputs, fee)
	}
	if !w.Owns(tx.Outputs[1].Address) || tx.Outputs[1].Address == tx.Outputs[0].Address {
		t.Fatal("change does not go to a fresh wallet address")
	}
	if _, err := pool.Add(tx); err != nil {
		t.Fatalf("mempool rejects the payment: %v", err)
	}
	if sp, _, _ := w.Balance(bc, pool); sp != 0 {
		t.Fatalf("coins of the pending payment still spendable: %d", sp)
	}
	if _, err := w.Pay(bc, pool, miner, 1, 1); !errors.Is(err, chain.ErrInsufficientFunds) {
		t.Fatalf("pending coins spent twice: %v", err)
	}
	txs, _ := pool.Template(1 << 20)
	mine("m3", chaintest.Txs(txs...))
	change := tx.Outputs[1].Value
	sp, locked, err = w.Balance(bc, pool)
	if err != nil || sp != change+coin || locked != 0 {
		t.Fatalf("after confirmation: spendable %d locked %d (%v), want %d and 0", sp, locked, err, change+coin)
	}
	// Spend everything exactly: no change output.
	exact := sp - 1*(16+132*2+28)
	tx2, err := w.Pay(bc, pool, miner, exact, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx2.Outputs) != 1 || len(tx2.Inputs) != 2 {
		t.Fatalf("exact payment: %d inputs %d outputs", len(tx2.Inputs), len(tx2.Outputs))
	}
	if _, err := pool.Add(tx2); err != nil {
		t.Fatal(err)
	}
	w.Release(tx2.TxID())
	if _, err := w.Pay(bc, nil, miner, 1000, 0); err != nil {
		t.Fatalf("released coins not spendable again: %v", err)
	}
	if _, err := w.Pay(bc, pool, miner, 0, 1); !errors.Is(err, wallet.ErrBadPayment) {
		t.Fatalf("zero amount: %v", err)
	}
}
