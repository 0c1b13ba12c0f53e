package p2p

import (
	"fmt"
	"math/big"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// Config configures a Node. Start from DefaultConfig or ConfigForParams
// and override fields.
type Config struct {
	// Network is the network name and Genesis its genesis hash; both
	// namespace every topic and protocol, so nodes of different networks
	// never exchange messages.
	Network string
	Genesis chain.Hash

	// DataDir holds the identity key (IdentityFile). Empty: a fresh
	// key every start (tests).
	DataDir string
	// ListenAddrs are multiaddrs to listen on (TCP and QUIC: /tcp/<port>,
	// /udp/<port>/quic-v1). A QUIC address (or EnableQUIC) adds the QUIC
	// transport.
	ListenAddrs []string
	// EnableQUIC adds the QUIC transport for dialling even when no QUIC
	// address is listened on.
	EnableQUIC bool
	// Bootstrap peers (multiaddrs with /p2p/<id>), dialled at start and
	// whenever the node has fewer than LowPeers connections.
	Bootstrap []string
	// EnableMDNS turns on LAN discovery; EnableDHT the Kademlia DHT
	// (protocol prefix /gradientcoin/<network>) for the open network.
	EnableMDNS bool
	EnableDHT  bool

	// Connection manager watermarks and grace period.
	LowPeers, HighPeers int
	ConnGrace           time.Duration

	// Consensus caps the network enforces before handing data to the
	// chain (from chain.Params): a compact block that references more
	// than MaxContributions contributions, or more than MaxGradientSize
	// bytes of them, is refused before anything is fetched.
	MaxBlockSize        int
	MaxContributionSize int
	MaxContributions    int
	MaxGradientSize     int
	// StateChunk is the state-root chunk in floats (Training.ChunkSize).
	StateChunk int

	// SnapSync: when the best peer offers a weights snapshot at least
	// SnapMinDepth blocks ahead of our tip, fetch it (verified against
	// the header's state root) and import it before downloading bodies.
	// Needs a SnapshotSink.
	SnapSync     bool
	SnapMinDepth uint64
	// MaxSnapshotSize caps the weights a snapshot may hold (bytes).
	MaxSnapshotSize uint64

	// Peer behaviour. A peer's misbehaviour score decays by half every
	// ScoreHalfLife; at BanThreshold it is disconnected and refused for
	// BanDuration.
	BanThreshold  float64
	BanDuration   time.Duration
	ScoreHalfLife time.Duration
	// Per-peer rate limits: stream requests and gossip messages per
	// second (burst = 2 s worth), bytes served per second.
	RequestRate    float64
	GossipRate     float64
	ServeByteRate  float64
	MaxInboundReqs int // concurrent inbound requests per peer

	// Timeouts.
	DialTimeout     time.Duration
	RequestTimeout  time.Duration // one request/response round trip
	ValidateTimeout time.Duration // one gossip validation (may fetch)

	// Sync: the sync loop wakes every SyncInterval (or when a peer shows
	// more work); peer statuses are refreshed every StatusInterval. While
	// it downloads the bodies of a verified header chain with more work
	// than its tip that ends more than CatchUpBlocks above it, the node
	// is "syncing": it ignores transactions, contributions and blocks
	// whose parent it lacks (blocks on a known parent are still
	// processed). BodyBatch blocks per request, BodyWindow batches in
	// flight. MinimumChainWork: no bodies are downloaded from a header
	// chain with less work (chain.Params.MinimumChainWork; nil: none).
	SyncInterval     time.Duration
	StatusInterval   time.Duration
	CatchUpBlocks    uint64
	BodyBatch        int
	BodyWindow       int
	MinimumChainWork *big.Int
	// MaxSyncBytes bounds the bytes of block bodies the sync loop holds
	// received and not yet processed: at most MaxSyncBytes plus the one
	// batch being processed (BodyBatch × MaxBlockSize at worst).
	MaxSyncBytes int64

	// GossipHeartbeat is gossipsub's heartbeat (mesh maintenance).
	GossipHeartbeat time.Duration

	// CompressionLevel for everything this node sends.
	CompressionLevel wire.Level

	// Logger receives the node's logs; the zero value is silent.
	Logger zerolog.Logger
	// Now is the clock (tests may fake it); nil means time.Now.
	Now func() time.Time
}

// IdentityFile is the name of the identity key file in DataDir.
const IdentityFile = "p2p_identity.key"

// DefaultConfig returns production defaults for a network; the caller
// sets Network and Genesis (or uses ConfigForParams).
func DefaultConfig() Config {
	return Config{
		ListenAddrs:         defaultListen(),
		LowPeers:            16,
		HighPeers:           48,
		ConnGrace:           time.Minute,
		MaxBlockSize:        32 << 20,
		MaxContributionSize: 16 << 20,
		MaxContributions:    chain.MaxBlockContributions,
		MaxGradientSize:     32 << 20,
		StateChunk:          1 << 14,
		SnapMinDepth:        1000,
		MaxSnapshotSize:     4 << 30,
		BanThreshold:        100,
		BanDuration:         24 * time.Hour,
		ScoreHalfLife:       10 * time.Minute,
		RequestRate:         50,
		GossipRate:          100,
		ServeByteRate:       64 << 20,
		MaxInboundReqs:      8,
		DialTimeout:         10 * time.Second,
		RequestTimeout:      20 * time.Second,
		ValidateTimeout:     30 * time.Second,
		SyncInterval:        2 * time.Second,
		StatusInterval:      15 * time.Second,
		CatchUpBlocks:       6,
		BodyBatch:           16,
		BodyWindow:          16,
		MaxSyncBytes:        256 << 20,
		EnableMDNS:          true,
		GossipHeartbeat:     time.Second,
		CompressionLevel:    wire.DefaultLevel,
	}
}

// ConfigForParams returns DefaultConfig filled from network parameters:
// names, caps, state chunk, bootstrap peers and listen port (TCP and
// QUIC on the same port number).
func ConfigForParams(p *chain.Params) Config {
	c := DefaultConfig()
	c.Network = p.Name
	c.Genesis = p.GenesisHash
	c.MaxBlockSize = p.MaxBlockSize
	c.MaxContributionSize = p.Training.MaxContributionBytes
	c.MaxContributions = p.MaxContributions
	c.MaxGradientSize = p.MaxGradientSize
	c.StateChunk = p.Training.ChunkSize
	if p.MinimumChainWork != nil {
		c.MinimumChainWork = new(big.Int).Set(p.MinimumChainWork)
	}
	c.Bootstrap = append([]string(nil), p.Bootstrap...)
	// The open networks find peers through the DHT; a devnet is local
	// (mDNS and explicit peers) unless the caller turns it on.
	c.EnableDHT = p.Name != chain.DevnetName
	if p.DefaultPort > 0 {
		c.ListenAddrs = []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", p.DefaultPort),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", p.DefaultPort),
		}
	}
	return c
}

// TestConfig returns a configuration for tests and local devnets: loopback
// only, no mDNS or DHT, short timeouts and intervals.
func TestConfig(p *chain.Params) Config {
	c := ConfigForParams(p)
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	c.Bootstrap = nil
	c.EnableMDNS, c.EnableDHT = false, false
	c.LowPeers, c.HighPeers = 8, 32
	c.ConnGrace = 10 * time.Second
	c.BanDuration = time.Minute
	c.DialTimeout = 10 * time.Second
	c.RequestTimeout = 5 * time.Second
	c.ValidateTimeout = 5 * time.Second
	c.SyncInterval = 200 * time.Millisecond
	c.StatusInterval = 500 * time.Millisecond
	c.GossipHeartbeat = 100 * time.Millisecond
	c.RequestRate = 1000
	c.GossipRate = 1000
	c.SnapMinDepth = 50
	return c
}

func (c *Config) validate() error {
	switch {
	case c.Network == "":
		return errorf(ErrConfig, "config: Network is empty")
	case c.Genesis.IsZero():
		return errorf(ErrConfig, "config: Genesis is the zero hash")
	case len(c.ListenAddrs) == 0:
		return errorf(ErrConfig, "config: no ListenAddrs")
	case c.LowPeers < 1 || c.HighPeers < c.LowPeers:
		return errorf(ErrConfig, "config: peer watermarks %d/%d (need 1 <= low <= high)", c.LowPeers, c.HighPeers)
	case c.MaxBlockSize < chain.HeaderSize || c.MaxBlockSize > chain.MaxBlockSizeLimit:
		return errorf(ErrConfig, "config: MaxBlockSize %d outside [%d, %d]", c.MaxBlockSize, chain.HeaderSize, chain.MaxBlockSizeLimit)
	case c.MaxContributionSize < 1 || c.MaxContributionSize > chain.MaxContributionBytes:
		return errorf(ErrConfig, "config: MaxContributionSize %d outside [1, %d]", c.MaxContributionSize, chain.MaxContributionBytes)
	case c.MaxContributions < 0 || c.MaxContributions > chain.MaxBlockContributions:
		return errorf(ErrConfig, "config: MaxContributions %d outside [0, %d]", c.MaxContributions, chain.MaxBlockContributions)
	case c.MaxGradientSize < 0 || c.MaxGradientSize > c.MaxBlockSize:
		return errorf(ErrConfig, "config: MaxGradientSize %d outside [0, MaxBlockSize %d]", c.MaxGradientSize, c.MaxBlockSize)
	case c.StateChunk < 1 || 4*c.StateChunk > wire.MaxSnapChunk:
		return errorf(ErrConfig, "config: StateChunk %d floats outside [1, %d]", c.StateChunk, wire.MaxSnapChunk/4)
	case c.BanThreshold <= 0:
		return errorf(ErrConfig, "config: BanThreshold %v must be positive", c.BanThreshold)
	case c.RequestRate <= 0 || c.GossipRate <= 0 || c.ServeByteRate <= 0 || c.MaxInboundReqs < 1:
		return errorf(ErrConfig, "config: rate limits must be positive")
	case c.RequestTimeout <= 0 || c.ValidateTimeout <= 0 || c.DialTimeout <= 0:
		return errorf(ErrConfig, "config: timeouts must be positive")
	case c.SyncInterval <= 0 || c.StatusInterval <= 0 || c.GossipHeartbeat <= 0 || c.ScoreHalfLife <= 0 || c.BanDuration <= 0:
		return errorf(ErrConfig, "config: intervals must be positive")
	case c.MaxSyncBytes < 1:
		return errorf(ErrConfig, "config: MaxSyncBytes %d must be positive", c.MaxSyncBytes)
	case c.BodyBatch < 1 || c.BodyBatch > wire.MaxBlocksPerRequest || c.BodyWindow < 1:
		return errorf(ErrConfig, "config: BodyBatch %d outside [1, %d] or BodyWindow %d < 1", c.BodyBatch, wire.MaxBlocksPerRequest, c.BodyWindow)
	}
	return nil
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// defaultListen is TCP and QUIC on all interfaces, ports picked by the
// system.
func defaultListen() []string {
	return []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
}
