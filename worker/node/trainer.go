package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// DefaultShards is the number of shards the training stream is split into
// when Config.Shard is unset: the node trains on the pages of shard
// data.ShardIndex(contribution public key, DefaultShards).
const DefaultShards = 16

// contributionKey derives the node's contribution signing key from the
// wallet seed, so that the seed restores it.
func contributionKey(seed [32]byte) ed25519.PrivateKey {
	h := chain.TaggedHash("gradientcoin/contribution-key", seed[:])
	return ed25519.NewKeyFromSeed(h[:])
}

// trainShape returns the local training batch shape: TrainBatch ×
// TrainSeq, by default sequences of the model's full context, as many as
// make about 512 tokens (at least 4).
func (c *Config) trainShape() (b, t int) {
	b, t = c.TrainBatch, c.TrainSeq
	if t == 0 {
		t = c.Params.Training.Model.Context
	}
	if b == 0 {
		b = max(4, 512/t)
	}
	return b, t
}

// trainer is the node's local training: a GPT with gradients on its
// private shard, the local optimizer (whose state carries over between
// rounds) and the error-feedback residual.
type trainer struct {
	n     *Node
	r     state.Rules
	key   ed25519.PrivateKey
	pub   [32]byte
	m     *model.GPT
	obj   *train.GPTObjective
	opt   *train.Optimizer
	preK  int // worker-side top-k before sketching (count-sketch heavy hitters)
	shard string

	mu       sync.Mutex
	residual []float32                // committed: our last included contribution's
	pending  map[chain.Hash][]float32 // contribution hash → residual if it is included
}

func newTrainer(n *Node) (*trainer, error) {
	r := n.p.Training
	b, t := n.cfg.trainShape()
	pub := n.key.Public().(ed25519.PublicKey)
	var (
		pages []int
		shard string
		err   error
	)
	if sh := n.cfg.Shard; sh.Count > 0 {
		if sh.Index < 0 || sh.Index >= sh.Count {
			return nil, errorf(ErrConfig, "shard %d of %d", sh.Index, sh.Count)
		}
		for p := sh.Index; p < n.corpus.NumPages(); p += sh.Count {
			pages = append(pages, p)
		}
		if len(pages) == 0 {
			return nil, errorf(ErrConfig, "shard %d of %d of %s is empty (%d pages)", sh.Index, sh.Count, n.corpus.Name, n.corpus.NumPages())
		}
		shard = fmt.Sprintf("%d/%d", sh.Index, sh.Count)
	} else {
		shards := min(DefaultShards, n.corpus.NumPages())
		if pages, err = n.corpus.Shard(pub, shards); err != nil {
			return nil, fmt.Errorf("node: training shard: %w", err)
		}
		idx, _ := data.ShardIndex(pub, shards)
		shard = fmt.Sprintf("%d/%d", idx, shards)
	}
	smp, err := data.NewSampler(n.corpus.Train, pages, b, t)
	if err != nil {
		return nil, fmt.Errorf("node: training sampler: %w", err)
	}
	m, err := model.NewGPT(r.Model, b, t, true)
	if err != nil {
		return nil, fmt.Errorf("node: training model: %w", err)
	}
	obj, err := train.NewGPTObjective(m, smp)
	if err != nil {
		m.Close()
		return nil, err
	}
	oc := n.cfg.Optimizer
	if oc.Kind == 0 {
		oc = train.OptConfig{Kind: train.AdamW, LR: r.LocalLR, WeightDecay: 0.1, ClipNorm: 1}
	}
	mask, err := model.DecayMask(r.Model)
	if err != nil {
		m.Close()
		return nil, err
	}
	opt, err := train.NewOptimizer(oc, r.ParamCount(), mask)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("node: optimizer: %w", err)
	}
	tr := &trainer{n: n, r: r, key: n.key, m: m, obj: obj, opt: opt, shard: shard, pending: make(map[chain.Hash][]float32)}
	copy(tr.pub[:], pub)
	if r.Sketch.Family == sketch.CountSketch && r.Sketch.TopK > 0 {
		tr.preK = r.Sketch.TopK
	}
	return tr, nil
}

func (t *trainer) close() {
	t.m.Close()
}

// roundSeed is the seed of this node's batches for the round after parent.
func (t *trainer) roundSeed(parent chain.Hash) uint64 {
	h := chain.TaggedHash("gradientcoin/node/round", t.pub[:], parent[:])
	return binary.LittleEndian.Uint64(h[:8])
}

// contribute takes K local steps from w0 (the weights after parent),
// forms Δ + residual, sparsifies it (count-sketch heavy hitters), sketches
// with the round's seed, quantizes and signs. It returns the encoded
// contribution and the mean local loss. The new residual is kept pending
// until a connected block includes the contribution. ctx is checked
// between steps.
func (t *trainer) contribute(ctx context.Context, parent chain.Hash, w0 []float32) ([]byte, float64, error) {
	k := t.r.LocalSteps
	w := append([]float32(nil), w0...)
	seed := t.roundSeed(parent)
	rng := train.NewRand(seed)
	var lossSum float64
	for i := 0; i < k; i++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		start := time.Now()
		losses, err := train.StepsContext(ctx, t.obj, w, t.opt, 1, rng)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, 0, cerr // a new tip or shutdown, part-way through the step
			}
			// A non-finite step: drop the optimizer state and skip the round.
			t.opt.Reset()
			return nil, 0, fmt.Errorf("node: local step %d: %w", i, err)
		}
		t.n.m.trainSteps.Add(1)
		b, s := t.m.Batch()
		t.n.m.tokens.Add(uint64(b * s))
		t.n.m.stepNanos.Store(uint64(time.Since(start)))
		lossSum += float64(losses[0])
	}
	d := len(w)
	v := make([]float32, d)
	for j := range v {
		v[j] = w[j] - w0[j]
	}
	t.mu.Lock()
	if t.residual != nil {
		for j, e := range t.residual {
			v[j] += e
		}
	}
	t.mu.Unlock()
	var rest []float32
	if t.preK > 0 && t.preK < d {
		rest = append([]float32(nil), v...)
		sketch.TopK(v, t.preK)
		for j := range rest {
			rest[j] -= v[j]
		}
	}
	digest := chain.TaggedHash("gradientcoin/node/samples", t.pub[:], parent[:], binary.LittleEndian.AppendUint64(nil, seed))
	c, resid, err := state.MakeContribution(t.r, [32]byte(parent), v, nil, t.key, digest)
	if err != nil {
		return nil, 0, fmt.Errorf("node: contribution: %w", err)
	}
	for j := range rest {
		resid[j] += rest[j]
	}
	for _, x := range resid {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			clear(resid)
			break
		}
	}
	raw := c.Encode()
	t.mu.Lock()
	if len(t.pending) > 64 {
		clear(t.pending)
	}
	t.pending[chain.ContributionHash(raw)] = resid
	t.mu.Unlock()
	return raw, lossSum / float64(k), nil
}

// onConnected commits the residual of our contribution when a connected
// block includes it (error feedback: what the network applied is what the
// residual assumed).
func (t *trainer) onConnected(blocks []*chain.Block) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range blocks {
		for _, c := range b.Contributions {
			if r, ok := t.pending[chain.ContributionHash(c)]; ok {
				t.residual = r
				clear(t.pending)
			}
		}
	}
}

// turn is this node's slot in a TrainGate shared by nodes in one process.
// Only the loop goroutine uses it. A node keeps its turn when a new tip
// interrupts its training (it restarts on the new tip at once) and gives it
// up when its contribution is ready, so turns rotate among the nodes
// instead of going to whoever saw the newest tip first.
type turn struct {
	ch   chan struct{}
	held bool
}

func (t *turn) take(ctx context.Context) error {
	if t.ch == nil || t.held {
		return nil
	}
	select {
	case t.ch <- struct{}{}:
		t.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *turn) give() {
	if t.held {
		<-t.ch
		t.held = false
	}
}
