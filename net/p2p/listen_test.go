package p2p

import (
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/metrics"

	"github.com/gradientcoin/gradientcoin/chain"
)

// TestHostPortInUse: a second host on a port another host listens on
// fails with one line naming the address (no SO_REUSEPORT on TCP; QUIC's
// UDP socket too, also when the host's TCP address is free and libp2p
// alone would start on it).
func TestHostPortInUse(t *testing.T) {
	p := chain.DevnetParams()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tcp := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	quic := fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port)
	host := func(addrs ...string) error {
		cfg := TestConfig(p)
		cfg.ListenAddrs = addrs
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		h, err := newHost(&cfg, key, gater{newPeerSet(&cfg, nil)}, metrics.NewBandwidthCounter())
		if err == nil {
			t.Cleanup(func() { h.Close() })
		}
		return err
	}
	if err := host(tcp, quic); err != nil {
		t.Fatalf("first host: %v", err)
	}
	for _, c := range []struct {
		name  string
		addrs []string
		want  string
	}{
		{"same TCP and QUIC", []string{tcp, quic}, tcp},
		{"same TCP", []string{tcp}, tcp},
		{"same QUIC, other TCP", []string{"/ip4/127.0.0.1/tcp/0", quic}, quic},
	} {
		err := host(c.addrs...)
		if err == nil || !strings.Contains(err.Error(), "cannot listen on "+c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line naming %s", c.name, err, c.want)
		}
	}
}
