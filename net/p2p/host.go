package p2p

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	dutil "github.com/libp2p/go-libp2p/p2p/discovery/util"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/fx"
)

// namespace is the prefix of every topic and protocol of the network:
// /gradientcoin/<network>/<first 8 bytes of the genesis hash, hex>.
func (c *Config) namespace() string {
	return fmt.Sprintf("/gradientcoin/%s/%s", c.Network, c.Genesis.String()[:16])
}

func (c *Config) protocolID(name string) protocol.ID {
	return protocol.ID(c.namespace() + "/" + name + "/1")
}

func (c *Config) topicName(name string) string { return c.namespace() + "/" + name + "/1" }

func hasQUIC(addrs []string) bool {
	for _, a := range addrs {
		if strings.Contains(a, "/quic") {
			return true
		}
	}
	return false
}

func newHost(cfg *Config, key crypto.PrivKey, g gater, bw metrics.Reporter) (host.Host, error) {
	cm, err := connmgr.NewConnManager(cfg.LowPeers, cfg.HighPeers, connmgr.WithGracePeriod(cfg.ConnGrace))
	if err != nil {
		return nil, wrapf(ErrConfig, err, "connection manager")
	}
	// No SO_REUSEPORT: with it (go-libp2p's default) a second node on the
	// same port binds too and the kernel splits the connections between
	// the two. Without it the second bind fails (EADDRINUSE).
	transports := []libp2p.Option{libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport())}
	if cfg.EnableQUIC || hasQUIC(cfg.ListenAddrs) {
		// quic-go must be v0.57.1 or later under Go 1.26 (older ones panic
		// on the server side of every handshake, quic-go#5572);
		// go-libp2p v0.46.0 brings it, and TestQUICHandshakes guards it.
		transports = append(transports, libp2p.Transport(quic.NewTransport))
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.ChainOptions(transports...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.BandwidthReporter(bw),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.WithDialTimeout(cfg.DialTimeout),
		libp2p.UserAgent("gradientcoin/"+cfg.Network),
		// fx (go-libp2p's dependency injection) logs its wiring: not ours.
		libp2p.WithFxOption(fx.NopLogger),
	)
	if err != nil {
		if strings.Contains(err.Error(), "failed to listen on any addresses") {
			return nil, errorf(ErrConfig, "cannot listen on %s (%s: is another node running on this port? pick another with --listen)",
				strings.Join(cfg.ListenAddrs, ", "), lastCause(err))
		}
		return nil, wrapf(ErrConfig, err, "libp2p host on %v", cfg.ListenAddrs)
	}
	// libp2p starts when at least one listen address binds; every
	// configured one must (a port in use fails here, naming it).
	if err := checkListening(cfg.ListenAddrs, h.Network().ListenAddresses()); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// checkListening returns an ErrConfig naming the first configured listen
// address that no bound address serves: same protocols, same IP, and the
// same port unless port 0 was asked for.
func checkListening(configured []string, bound []ma.Multiaddr) error {
	for _, s := range configured {
		want, err := ma.NewMultiaddr(s)
		if err != nil {
			return wrapf(ErrConfig, err, "listen address %q", s)
		}
		ok := false
		for _, b := range bound {
			if listenMatches(want, b) {
				ok = true
				break
			}
		}
		if !ok {
			return errorf(ErrConfig, "cannot listen on %s (address in use: is another node running on this port? pick another with --listen)", s)
		}
	}
	return nil
}

// lastCause is the end of a bind error ("bind: address already in use").
func lastCause(err error) string {
	s := strings.TrimRight(err.Error(), "]")
	if i := strings.LastIndex(s, "bind: "); i >= 0 {
		return s[i:]
	}
	return s
}

func listenMatches(want, got ma.Multiaddr) bool {
	wp, gp := want.Protocols(), got.Protocols()
	if len(wp) != len(gp) {
		return false
	}
	for i := range wp {
		if wp[i].Code != gp[i].Code {
			return false
		}
		wv, _ := want.ValueForProtocol(wp[i].Code)
		gv, _ := got.ValueForProtocol(gp[i].Code)
		switch wp[i].Code {
		case ma.P_TCP, ma.P_UDP:
			if wv != "0" && wv != gv {
				return false
			}
		case ma.P_IP4, ma.P_IP6:
			if wv != gv && !isUnspecified(wv) {
				return false
			}
		}
	}
	return true
}

func isUnspecified(ip string) bool { return ip == "0.0.0.0" || ip == "::" }

// ParseAddrs parses multiaddrs that end in /p2p/<peer id>, grouping
// addresses of the same peer.
func ParseAddrs(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, wrapf(ErrConfig, err, "address %q", s)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, wrapf(ErrConfig, err, "addresses %v (each needs /p2p/<peer id>)", addrs)
	}
	return infos, nil
}

// discovery runs the bootstrap, mDNS and DHT peer sources.
type discovery struct {
	n         *Node
	bootstrap []peer.AddrInfo
	mdns      mdns.Service
	dht       *dht.IpfsDHT
}

// HandlePeerFound is the mDNS callback.
func (d *discovery) HandlePeerFound(pi peer.AddrInfo) {
	if pi.ID == d.n.host.ID() {
		return
	}
	d.n.connectAsync(pi)
}

func (d *discovery) start(ctx context.Context) error {
	n := d.n
	if n.cfg.EnableMDNS {
		d.mdns = mdns.NewMdnsService(n.host, n.cfg.namespace(), d)
		if err := d.mdns.Start(); err != nil {
			// No multicast here (a container, say): carry on without it.
			n.log.Warn().Err(err).Msg("mDNS discovery unavailable")
			d.mdns = nil
		}
	}
	if n.cfg.EnableDHT {
		kad, err := dht.New(ctx, n.host,
			dht.Mode(dht.ModeAutoServer),
			dht.ProtocolPrefix(protocol.ID("/gradientcoin/"+n.cfg.Network)),
			dht.BootstrapPeers(d.bootstrap...),
		)
		if err != nil {
			return wrapf(ErrConfig, err, "dht")
		}
		d.dht = kad
		if err := kad.Bootstrap(ctx); err != nil {
			return wrapf(ErrConfig, err, "dht bootstrap")
		}
		n.goLoop(func() { d.dhtLoop(ctx) })
	}
	n.goLoop(func() { d.bootstrapLoop(ctx) })
	return nil
}

func (d *discovery) close() {
	if d.mdns != nil {
		d.mdns.Close()
	}
	if d.dht != nil {
		d.dht.Close()
	}
}

// bootstrapLoop dials the bootstrap peers at start and whenever the node
// has fewer than LowPeers connections.
func (d *discovery) bootstrapLoop(ctx context.Context) {
	if len(d.bootstrap) == 0 {
		return
	}
	t := time.NewTicker(10 * d.n.cfg.SyncInterval)
	defer t.Stop()
	for {
		if len(d.n.host.Network().Peers()) < d.n.cfg.LowPeers {
			for _, pi := range d.bootstrap {
				if pi.ID != d.n.host.ID() {
					d.n.connectAsync(pi)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dhtLoop advertises the network's namespace and dials peers found
// under it while below LowPeers.
func (d *discovery) dhtLoop(ctx context.Context) {
	rd := drouting.NewRoutingDiscovery(d.dht)
	dutil.Advertise(ctx, rd, d.n.cfg.namespace())
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if len(d.n.host.Network().Peers()) < d.n.cfg.LowPeers {
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if ch, err := rd.FindPeers(fctx, d.n.cfg.namespace()); err == nil {
				for pi := range ch {
					if pi.ID != d.n.host.ID() && len(pi.Addrs) > 0 {
						d.n.connectAsync(pi)
					}
				}
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
