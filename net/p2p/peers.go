package p2p

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/gradientcoin/gradientcoin/net/wire"
)

// Misbehaviour points (BanThreshold defaults to 100).
const (
	PenaltyMalformed           = 21 // undecodable, oversized, truncated or bomb message: five ban
	PenaltyInvalidBlock        = 60 // a block (or headers chain) invalid by consensus: two ban
	PenaltyInvalidTx           = 10
	PenaltyInvalidContribution = 20
	PenaltyBadResponse         = 30 // a response that does not match its request
	PenaltyRateLimit           = 2  // each message or request over the limit
	PenaltyLiedAboutWork       = 10 // advertised work it could not back with headers
	PenaltySyncStall           = 10 // the sync peer timed out, reset, or lacked a body its headers list
	PenaltyLowWork             = 5  // an unrequested block far below our tip's work (Params.LowWorkMargin)
)

type peerState struct {
	connected bool
	status    *wire.Status
	statusAt  time.Time

	score   float64
	scoreAt time.Time

	reqs, gossip, bytes bucket
	inflight            int
}

// peerSet tracks peers: status, misbehaviour score, bans, rate limits.
// Safe for concurrent use.
type peerSet struct {
	cfg   *Config
	onBan func(peer.ID, string) // called without the lock held

	mu    sync.Mutex
	peers map[peer.ID]*peerState
	bans  map[peer.ID]time.Time
	nBans int
}

func newPeerSet(cfg *Config, onBan func(peer.ID, string)) *peerSet {
	return &peerSet{cfg: cfg, onBan: onBan, peers: map[peer.ID]*peerState{}, bans: map[peer.ID]time.Time{}}
}

func (s *peerSet) state(p peer.ID, now time.Time) *peerState {
	ps := s.peers[p]
	if ps == nil {
		c := s.cfg
		ps = &peerState{
			scoreAt: now,
			reqs:    newBucket(c.RequestRate, 2*c.RequestRate, now),
			gossip:  newBucket(c.GossipRate, 2*c.GossipRate, now),
			bytes:   newBucket(c.ServeByteRate, 2*c.ServeByteRate, now),
		}
		s.peers[p] = ps
	}
	return ps
}

func (s *peerSet) decayed(ps *peerState, now time.Time) float64 {
	if dt := now.Sub(ps.scoreAt); dt > 0 && ps.score > 0 {
		ps.score *= math.Exp2(-dt.Seconds() / s.cfg.ScoreHalfLife.Seconds())
		if ps.score < 0.01 {
			ps.score = 0
		}
	}
	ps.scoreAt = now
	return ps.score
}

func (s *peerSet) connected(p peer.ID) {
	s.mu.Lock()
	s.state(p, s.cfg.now()).connected = true
	s.mu.Unlock()
}

func (s *peerSet) disconnected(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.peers[p]
	if ps == nil {
		return
	}
	ps.connected = false
	ps.status = nil
	// Keep the entry while it carries a score, so that reconnecting does
	// not wipe a peer's record; drop it once the score has decayed.
	if s.decayed(ps, s.cfg.now()) == 0 && ps.inflight == 0 {
		delete(s.peers, p)
	}
}

// misbehave adds points to p's score and bans it at the threshold. It
// reports whether p is (now) banned.
func (s *peerSet) misbehave(p peer.ID, points float64, reason string) bool {
	now := s.cfg.now()
	s.mu.Lock()
	if _, ok := s.bans[p]; ok {
		s.mu.Unlock()
		return true
	}
	ps := s.state(p, now)
	score := s.decayed(ps, now) + points
	ps.score = score
	banned := score >= s.cfg.BanThreshold
	if banned {
		s.bans[p] = now.Add(s.cfg.BanDuration)
		s.nBans++
	}
	s.mu.Unlock()
	if banned && s.onBan != nil {
		s.onBan(p, reason)
	}
	return banned
}

func (s *peerSet) isBanned(p peer.ID) bool {
	now := s.cfg.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.bans[p]
	if !ok {
		return false
	}
	if now.After(until) {
		delete(s.bans, p)
		if ps := s.peers[p]; ps != nil {
			ps.score = 0
		}
		return false
	}
	return true
}

// score returns p's current misbehaviour score (0 for unknown peers).
func (s *peerSet) score(p peer.ID) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.peers[p]; ps != nil {
		return s.decayed(ps, s.cfg.now())
	}
	return 0
}

func (s *peerSet) allowGossip(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	return s.state(p, now).gossip.take(1, now)
}

// acquireRequest admits one inbound request from p (rate limit and
// concurrency); release with releaseRequest.
func (s *peerSet) acquireRequest(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	ps := s.state(p, now)
	if ps.inflight >= s.cfg.MaxInboundReqs || !ps.reqs.take(1, now) {
		return false
	}
	ps.inflight++
	return true
}

func (s *peerSet) releaseRequest(p peer.ID) {
	s.mu.Lock()
	if ps := s.peers[p]; ps != nil && ps.inflight > 0 {
		ps.inflight--
	}
	s.mu.Unlock()
}

// allowBytes charges n bytes served to p.
func (s *peerSet) allowBytes(p peer.ID, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	return s.state(p, now).bytes.take(float64(n), now)
}

func (s *peerSet) setStatus(p peer.ID, st *wire.Status) {
	now := s.cfg.now()
	s.mu.Lock()
	ps := s.state(p, now)
	ps.status = st
	ps.statusAt = now
	s.mu.Unlock()
}

func (s *peerSet) status(p peer.ID) *wire.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.peers[p]; ps != nil {
		return ps.status
	}
	return nil
}

type peerStatus struct {
	id     peer.ID
	status *wire.Status
}

// withStatus returns the connected, unbanned peers that have sent a
// status, most work first (ties by peer id, for determinism).
func (s *peerSet) withStatus() []peerStatus {
	now := s.cfg.now()
	s.mu.Lock()
	out := make([]peerStatus, 0, len(s.peers))
	for id, ps := range s.peers {
		if !ps.connected || ps.status == nil {
			continue
		}
		if until, ok := s.bans[id]; ok && now.Before(until) {
			continue
		}
		out = append(out, peerStatus{id, ps.status})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].status.Work().Cmp(out[j].status.Work()); c != 0 {
			return c > 0
		}
		return out[i].id < out[j].id
	})
	return out
}

func (s *peerSet) bansTotal() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nBans
}

// gater refuses connections to and from banned peers.
type gater struct{ peers *peerSet }

func (g gater) InterceptPeerDial(p peer.ID) bool             { return !g.peers.isBanned(p) }
func (g gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g gater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.peers.isBanned(p)
}
func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
