package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/node"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

// TestWalletPayment: two node processes on 127.0.0.1; A mines, B only
// syncs. `wallet send` on A pays an address of B's (`wallet address`);
// once a block includes the payment, B's `wallet balance` shows it. (The
// node-level twin, with the block count controlled, is worker/node's
// TestTwoNodesPayment; this one goes through the binary, the API and two
// libp2p hosts.)
func TestWalletPayment(t *testing.T) {
	home := t.TempDir()
	env := testEnv(home)
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	initDir(t, env, da)
	initDir(t, env, db)
	a := startNode(t, env, da, "--train=false")
	p := chain.DevnetParams()
	sa := a.waitHeight(p.CoinbaseMaturity+2, 90*time.Second)
	if len(sa.Addrs) == 0 {
		t.Fatalf("node A has no p2p address: %+v", sa)
	}
	b := startNode(t, env, db, "--mine=false", "--train=false", "--bootstrap", sa.Addrs[0])
	// B connects and syncs A's chain (to within a few blocks: A mines on).
	deadline := time.Now().Add(60 * time.Second)
	for {
		sa, _ := a.client.Status(context.Background())
		sb, err := b.client.Status(context.Background())
		if err == nil && sb.Peers > 0 && sa.Height > 0 && sb.Height+3 >= sa.Height { // A keeps mining
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B did not sync: A %d, B %+v, %v", sa.Height, sb, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	r := cli(t, env, "wallet", "address", "--datadir", db)
	to := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(to, p.AddressPrefix+"1") {
		t.Fatalf("wallet address on B: %s", r)
	}
	const amount = 1250000000 // 12.5 GC
	r = cli(t, env, "wallet", "send", to, "12.5", "--json", "--datadir", da)
	if r.code != 0 {
		t.Fatalf("wallet send: %s", r)
	}
	var sent rpc.SendResponse
	decodeJSON(t, "wallet send --json", r.stdout, &sent)
	sentAt, _ := a.client.Status(context.Background())

	// B's balance once a block holds the payment.
	var bal rpc.Balance
	deadline = time.Now().Add(60 * time.Second)
	for {
		r = cli(t, env, "wallet", "balance", "--json", "--datadir", db)
		if r.code == 0 {
			decodeJSON(t, "wallet balance", r.stdout, &bal)
			if bal.Spendable == amount {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's balance after 60 s: %s (want %d spendable)", r, amount)
		}
		time.Sleep(250 * time.Millisecond)
	}
	r = cli(t, env, "wallet", "history", "--json", "--datadir", db)
	var h []node.WalletTx
	decodeJSON(t, "wallet history", r.stdout, &h)
	if len(h) != 1 || h[0].TxID != sent.TxID || h[0].Received != amount || h[0].Pending || h[0].Height == 0 {
		t.Fatalf("B's history: %+v", h)
	}
	// Included in the block being mined when it was sent or the next one.
	if h[0].Height > sentAt.Height+2 {
		t.Errorf("payment sent at height %d confirmed only at height %d", sentAt.Height, h[0].Height)
	}
	t.Logf("payment %s sent at height %d, in block %d; B spendable %s GC", sent.TxID, sentAt.Height, h[0].Height, bal.SpendableCoins)
	r = cli(t, env, "wallet", "history", "--json", "--datadir", da)
	var ha []node.WalletTx
	decodeJSON(t, "wallet history A", r.stdout, &ha)
	found := false
	for _, e := range ha {
		if e.TxID == sent.TxID {
			found = true
			if e.Net() != -int64(amount+e.Fee) || e.Fee == 0 {
				t.Errorf("A's history entry of the payment: %+v", e)
			}
		}
	}
	if !found {
		t.Errorf("A's history lacks the payment %s", sent.TxID)
	}
}
