// Package p2p is a GradientCoin peer: a go-libp2p host (TCP and QUIC,
// Noise, yamux; identity key persisted in the data directory; connection
// manager watermarks; bootstrap peers, mDNS on LANs and the Kademlia DHT
// for discovery), gossipsub topics for compact blocks, transactions and
// contribution announcements, request protocols for headers, block bodies,
// contributions and weight snapshots, and a headers-first sync loop with
// parallel body download and optional snap sync of the weights.
//
// # Contract
//
// A Node is built with New(Config, Deps) and stopped with Close. It talks
// to the rest of the program only through the interfaces in Deps (Chain,
// Mempool, ContributionPool, SnapshotSource, SnapshotSink, and optionally
// HeaderProcessor, without which sync takes a peer's claimed work on
// trust); ChainAdapter adapts *chain.BlockChain to all of them
// but the pools (headers go to ProcessHeaders before bodies are fetched,
// snapshots to ImportSnapshot). Everything a peer sends is untrusted: it is
// decoded by net/wire under hard caps (no allocation beyond a cap before
// the length is checked, zstd frames bounded by declared size and window),
// verified against the commitment it was requested by (block hash, tx and
// gradient roots, contribution hash, snapshot manifest leaves and the
// header's state root), and only then handed to the chain, which decides
// validity. Bad input never panics the node (validators and handlers also
// recover from bugs) and never reaches the store unverified.
//
// Gossip validators Accept a message only after full validation (a block
// is processed by the chain first, so only valid blocks are relayed, and
// only those that end on the main chain or with as much work as our tip),
// Reject what is provably invalid (the forwarding peer is charged in our
// misbehaviour score and in gossipsub's peer score, P4), and Ignore
// unknown parents (starting a sync from that peer), duplicates, blocks on
// a branch far below our tip that nobody asked for (chain.ErrLowWork,
// charged lightly), and, while the node is catching up (Syncing),
// transactions, contributions and blocks whose parent it lacks. A compact
// block's contribution references are checked against the caps and the
// header's gradient root before anything is fetched. The block is rebuilt
// from the mempool and the contribution pool; what is missing is fetched
// from the sender: contributions by hash, transactions by position
// (protocol block-txs, each checked against the txid listed), the whole
// body only when that fails.
//
// Sync never trusts a peer's claimed work: it starts downloading bodies
// only once the peer's header chain, indexed by the chain, beats our tip
// (and MinimumChainWork), and only then counts as Syncing. A sync peer
// that times out, resets or lacks a body it listed is charged, its status
// is cleared, it backs off, and the next peer is tried at once; status
// exchanges run concurrently (one per peer). See syncer.
//
// Snapshots are served only from stored checkpoints (SnapshotSource):
// never a replay on a peer's behalf.
//
// Peer behaviour: each peer has a misbehaviour score that decays with
// ScoreHalfLife; Penalty* points are added for malformed messages,
// invalid blocks, transactions and contributions, mismatched responses,
// rate-limit violations, unbacked work claims, stalled sync requests and
// unrequested low-work blocks. At BanThreshold the peer is disconnected,
// refused by the connection gater and blacklisted in gossipsub for
// BanDuration. Per-peer token buckets limit gossip messages, requests and
// bytes served; inbound requests per peer, validation queues, dial
// concurrency, status exchanges and the body download window are bounded,
// so a flood costs bounded memory.
//
// The package is silent except through Config.Logger (zerolog; the zero
// value discards).
//
// # Errors
//
// Errors are *Error values of an ErrorKind, matched with errors.Is:
// ErrConfig, ErrIdentity, ErrBanned, ErrRateLimited, ErrBadPeerData,
// ErrNotFound, ErrWrongNetwork, ErrNoPeers, ErrClosed, ErrQueueFull,
// ErrSnapshot. Causes (wire kinds, chain kinds, I/O errors) stay
// reachable with errors.Is / errors.As. ErrIgnore is for ContributionPool
// implementations: wrap it to have a message ignored rather than
// rejected.
package p2p
