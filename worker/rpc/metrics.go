package rpc

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// promWriter writes the Prometheus text exposition format (version 0.0.4).
type promWriter struct {
	w    *bufio.Writer
	seen map[string]bool
}

// family writes the HELP and TYPE lines of a metric once.
func (p *promWriter) family(name, typ, help string) {
	if p.seen[name] {
		return
	}
	p.seen[name] = true
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// sample writes one sample; labels are name/value pairs.
func (p *promWriter) sample(name string, v float64, labels ...string) {
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			fmt.Fprintf(p.w, "%s=\"%s\"", labels[i], escapeLabel(labels[i+1]))
		}
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(formatFloat(v))
	p.w.WriteByte('\n')
}

func (p *promWriter) gauge(name, help string, v float64) {
	p.family(name, "gauge", help)
	p.sample(name, v)
}

func (p *promWriter) counter(name, help string, v uint64) {
	p.family(name, "counter", help)
	p.sample(name, float64(v))
}

func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// handleMetrics serves the node's metrics in the Prometheus text format.
// Names: gradientcoin_*, counters end in _total, units in the name
// (_seconds, _bytes, _atoms).
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	p := &promWriter{w: bufio.NewWriter(w), seen: map[string]bool{}}
	m := s.b.Metrics()
	bi := s.cfg.Build

	p.family("gradientcoin_build_info", "gauge", "Build of this binary (always 1): version, commit, Go version, CUDA (gccuda tag).")
	p.sample("gradientcoin_build_info", 1, "version", bi.Version, "commit", bi.Commit, "go", bi.Go, "cuda", strconv.FormatBool(bi.CUDA))
	net := s.b.Params().Name
	p.family("gradientcoin_network_info", "gauge", "Network of this node (always 1).")
	p.sample("gradientcoin_network_info", 1, "network", net, "genesis", s.b.Params().GenesisHash.String())

	p.gauge("gradientcoin_height", "Height of the main chain's tip.", float64(m.Height))
	p.gauge("gradientcoin_supply_atoms", "Coins in the UTXO set, in atoms.", float64(m.Supply))
	p.counter("gradientcoin_blocks_connected_total", "Blocks connected to the main chain since start.", m.BlocksConnected)
	p.counter("gradientcoin_blocks_mined_total", "Blocks mined by this node since start.", m.BlocksMined)
	p.counter("gradientcoin_reorgs_total", "Chain reorganisations since start.", m.Reorgs)
	p.gauge("gradientcoin_orphan_blocks", "Blocks waiting for their parent.", float64(m.Orphans))

	p.counter("gradientcoin_hashes_total", "Proof-of-work hashes (SHA-256d nonces) tried since start.", m.Hashes)
	p.gauge("gradientcoin_hashrate", "Hash rate over the last ~10 s, in hashes per second.", m.Hashrate)
	p.gauge("gradientcoin_mining", "1 while a block template is being mined.", b2f(m.Mining))

	p.counter("gradientcoin_train_steps_total", "Local optimizer steps since start.", m.TrainSteps)
	p.counter("gradientcoin_tokens_trained_total", "Tokens (bytes) trained on since start.", m.TokensTrained)
	p.counter("gradientcoin_contributions_total", "Contributions (sketched updates) made by this node since start.", m.Contributions)
	p.gauge("gradientcoin_train_step_seconds", "Duration of the last local training step.", m.TrainStepSeconds)
	p.gauge("gradientcoin_training", "1 while local training runs.", b2f(m.Training))
	if m.LossKnown {
		p.gauge("gradientcoin_loss", "Validation loss (nats per byte) of the model at the tip.", m.Loss)
	}

	p.gauge("gradientcoin_peers", "Connected peers.", float64(m.Peers))
	p.gauge("gradientcoin_peers_banned", "Banned peers.", float64(m.Bans))
	p.gauge("gradientcoin_syncing", "1 while syncing the chain from peers.", b2f(m.Syncing))
	p.counter("gradientcoin_p2p_sent_bytes_total", "Bytes sent to peers.", m.BytesSent)
	p.counter("gradientcoin_p2p_received_bytes_total", "Bytes received from peers.", m.BytesReceived)
	p.family("gradientcoin_gossip_messages_total", "counter", "Gossip messages validated, by result.")
	p.sample("gradientcoin_gossip_messages_total", float64(m.GossipAccepted), "result", "accept")
	p.sample("gradientcoin_gossip_messages_total", float64(m.GossipRejected), "result", "reject")
	p.sample("gradientcoin_gossip_messages_total", float64(m.GossipIgnored), "result", "ignore")

	p.gauge("gradientcoin_mempool_txs", "Transactions in the mempool.", float64(m.MempoolTxs))
	p.gauge("gradientcoin_mempool_bytes", "Size of the mempool's transactions.", float64(m.MempoolBytes))
	p.gauge("gradientcoin_contribution_pool", "Contributions heard for the current tip.", float64(m.ContribPool))
	p.counter("gradientcoin_wallet_txs_sent_total", "Payments sent by the wallet since start.", m.TxsSent)
	if sp, im, err := s.b.Balance(); err == nil {
		p.gauge("gradientcoin_wallet_spendable_atoms", "Spendable wallet balance, in atoms.", float64(sp))
		p.gauge("gradientcoin_wallet_immature_atoms", "Wallet coins not yet spendable (young coinbases, pending payments), in atoms.", float64(im))
	}

	p.gauge("gradientcoin_uptime_seconds", "Seconds since the node started.", m.UptimeSeconds)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.gauge("gradientcoin_go_goroutines", "Goroutines of the process.", float64(runtime.NumGoroutine()))
	p.gauge("gradientcoin_go_heap_alloc_bytes", "Bytes of allocated heap objects.", float64(ms.HeapAlloc))
	p.gauge("gradientcoin_go_sys_bytes", "Bytes of memory obtained from the OS by the Go runtime.", float64(ms.Sys))

	p.family("gradientcoin_api_requests_total", "counter", "API requests served, by HTTP status code.")
	var codes []int
	s.requests.Range(func(k, _ any) bool { codes = append(codes, k.(int)); return true })
	sort.Ints(codes)
	for _, c := range codes {
		v, _ := s.requests.Load(c)
		p.sample("gradientcoin_api_requests_total", float64(v.(*atomic.Uint64).Load()), "code", strconv.Itoa(c))
	}
	p.w.Flush()
}
