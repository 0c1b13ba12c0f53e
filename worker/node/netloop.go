package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/p2p"
)

// listenAddrs are the p2p listen addresses the node will use.
func (c *Config) listenAddrs() []string {
	switch {
	case c.Listen != nil:
		return c.Listen
	case c.LocalNet:
		return p2p.TestConfig(c.Params).ListenAddrs
	}
	return p2p.ConfigForParams(c.Params).ListenAddrs
}

// checkListen binds and releases every listen address with a fixed port
// before Open touches the data directory, so that a port in use (another
// node) fails at once, naming the address. (The p2p host checks again
// when it starts.)
func checkListen(addrs []string) error {
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return errorf(ErrConfig, "listen address %q: %v", s, err)
		}
		na, err := manet.ToNetAddr(m.Decapsulate(ma.StringCast("/quic-v1")))
		if err != nil {
			continue // not an IP transport this check knows; the host checks it
		}
		switch a := na.(type) {
		case *net.TCPAddr:
			if a.Port == 0 {
				continue
			}
			l, err := net.ListenTCP("tcp", a)
			if err != nil {
				return errorf(ErrConfig, "cannot listen on %s (%v: is another node running on this port? pick another with --listen)", s, bindCause(err))
			}
			l.Close()
		case *net.UDPAddr:
			if a.Port == 0 {
				continue
			}
			c, err := net.ListenUDP("udp", a)
			if err != nil {
				return errorf(ErrConfig, "cannot listen on %s (%v: is another node running on this port? pick another with --listen)", s, bindCause(err))
			}
			c.Close()
		}
	}
	return nil
}

// bindCause is the system's reason of a listen error.
func bindCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return fmt.Errorf("%s: %w", oe.Op, oe.Err)
	}
	return err
}

// restoreUnconfirmed puts the wallet's recorded unconfirmed payments back
// in the mempool (a restart); a payment the chain no longer allows (its
// coins spent elsewhere, already confirmed) is forgotten.
func (n *Node) restoreUnconfirmed() {
	for _, tx := range n.wal.Unconfirmed() {
		id := tx.TxID()
		_, err := n.mp.Add(tx)
		if err == nil || errors.Is(err, chain.ErrAlreadyHave) {
			n.log.Info().Str("txid", id.String()).Msg("wallet: unconfirmed payment back in the mempool")
			continue
		}
		n.log.Info().Str("txid", id.String()).Str("reason", err.Error()).Msg("wallet: dropped an unconfirmed payment the chain no longer allows")
		if derr := n.wal.DropUnconfirmed(id); derr != nil {
			n.log.Warn().Err(derr).Msg("wallet: write")
		}
	}
}

// Intervals of netLoop.
const (
	netCheckEvery   = 5 * time.Second
	noPeersWarnAt   = 30 * time.Second // the first "no peers" warning after start
	noPeersWarnEach = 5 * time.Minute  // then at most this often
	rebroadcastEach = 10 * time.Minute
	bootstrapWait   = 20 * time.Second
)

// netLoop watches the node's connectivity (with Sync): it warns once per
// bootstrap peer that cannot be reached, warns while the node has no
// peers outside a devnet (it would mine alone, on a chain nobody else
// sees), and sends the wallet's unconfirmed payments again when peers
// appear and every rebroadcastEach while they wait for a block.
func (n *Node) netLoop(ctx context.Context) {
	if n.net == nil {
		return
	}
	boot := n.cfg.Bootstrap
	if boot == nil {
		boot = n.p.Bootstrap
	}
	if len(boot) == 0 && n.p.Name != chain.DevnetName {
		discovery := "mDNS and DHT discovery only"
		if n.cfg.NoDiscovery {
			discovery = "and discovery is off: no peer will be found unless one dials in"
		}
		n.log.Warn().Str("network", n.p.Name).Msgf("no bootstrap peers configured (--bootstrap /ip4/…/tcp/…/p2p/<id>); %s", discovery)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	n.checkBootstrap(ctx, boot, &wg)
	start := time.Now()
	var lastWarn, lastSend time.Time
	hadPeers := false
	t := time.NewTicker(netCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		peers := len(n.net.Peers())
		now := time.Now()
		if peers == 0 && n.p.Name != chain.DevnetName && now.Sub(start) >= noPeersWarnAt && (lastWarn.IsZero() || now.Sub(lastWarn) >= noPeersWarnEach) {
			lastWarn = now
			n.log.Warn().Uint64("height", n.bc.Tip().Height).Dur("up", now.Sub(start).Round(time.Second)).
				Msg("no peers: this node mines alone on a chain no one else sees (check --bootstrap, --listen and the firewall)")
		}
		if peers > 0 && (!hadPeers || now.Sub(lastSend) >= rebroadcastEach) {
			lastSend = now
			n.rebroadcast(ctx)
		}
		hadPeers = peers > 0
	}
}

// rebroadcast gossips the wallet's unconfirmed payments still in the
// mempool.
func (n *Node) rebroadcast(ctx context.Context) {
	for _, tx := range n.wal.Unconfirmed() {
		id := tx.TxID()
		if !n.mp.Has(id) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.net.PublishTx(pctx, tx)
		cancel()
		if err != nil {
			n.log.Debug().Err(err).Str("txid", id.String()).Msg("wallet: send payment again")
			continue
		}
		n.log.Debug().Str("txid", id.String()).Msg("wallet: payment sent again")
	}
}

// checkBootstrap dials the configured bootstrap peers (in parallel with
// the p2p node's own dials) and warns, naming each, about those it cannot
// reach.
func (n *Node) checkBootstrap(ctx context.Context, addrs []string, wg *sync.WaitGroup) {
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, bootstrapWait)
			defer cancel()
			if err := n.Connect(cctx, a); err != nil && ctx.Err() == nil {
				n.log.Warn().Str("peer", a).Str("error", oneLine(err.Error())).Msg("bootstrap peer unreachable")
			}
		}()
	}
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
