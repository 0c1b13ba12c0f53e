package node

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestListenInUse: a second node on a p2p address another node listens
// on fails to open, naming the address (TCP without SO_REUSEPORT; QUIC's
// UDP socket too, even when its TCP address is free), and changes nothing
// in its data directory.
func TestListenInUse(t *testing.T) {
	p := testParams(t)
	port := freePort(t)
	tcp := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	quic := fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port)
	a := testConfig(p, initDir(t, p), "a")
	a.Train, a.Mine = false, false
	a.Listen = []string{tcp, quic}
	na, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer na.Close()
	for _, c := range []struct {
		name   string
		listen []string
		want   string
	}{
		{"same TCP and QUIC", []string{tcp, quic}, tcp},
		{"same TCP", []string{tcp}, tcp},
		{"same QUIC, other TCP", []string{"/ip4/127.0.0.1/tcp/0", quic}, quic},
	} {
		dir := initDir(t, p)
		b := testConfig(p, dir, "b")
		b.Train, b.Mine = false, false
		b.Listen = c.listen
		before := snapshot(t, dir)
		nb, err := Open(b)
		if err == nil {
			nb.Close()
			t.Errorf("%s: a second node opened on %v", c.name, c.listen)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "cannot listen on "+c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q does not name %s on one line", c.name, msg, c.want)
		}
		if after := snapshot(t, dir); after != before {
			t.Errorf("%s: the failed open changed the data directory:\n%s\n%s", c.name, before, after)
		}
	}
}
