package node

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// maxLossHistory bounds the loss history kept in memory.
const maxLossHistory = 100_000

// LossPoint is the validation loss of the model after the block at Height.
type LossPoint struct {
	Height uint64     `json:"height"`
	Hash   chain.Hash `json:"hash"`
	Loss   float64    `json:"loss"`
	Time   time.Time  `json:"time"` // when it was measured
}

// evaluator measures the tip model's validation loss on fixed batches of
// the corpus's validation stream after every new tip (latest tip wins: a
// burst of tips is evaluated once).
type evaluator struct {
	n       *Node
	batches []data.Batch

	mu sync.Mutex // guards m (a GPT is not safe for concurrent use)
	m  *model.GPT

	wake chan struct{}

	hmu  sync.Mutex
	hist []LossPoint
	last chain.Hash
}

func newEvaluator(n *Node) (*evaluator, error) {
	_, t := n.cfg.trainShape()
	nb := n.cfg.EvalBatches
	if nb == 0 {
		nb = 4
	}
	const b = 16
	batches, err := data.Windows(n.corpus.Val, b, t, nb)
	if err != nil {
		return nil, fmt.Errorf("node: validation batches: %w", err)
	}
	m, err := model.NewGPT(n.p.Training.Model, b, t, false)
	if err != nil {
		return nil, fmt.Errorf("node: evaluation model: %w", err)
	}
	return &evaluator{n: n, batches: batches, m: m, wake: make(chan struct{}, 1)}, nil
}

func (e *evaluator) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m != nil {
		e.m.Close()
		e.m = nil
	}
}

func (e *evaluator) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// loss is the mean validation loss of weights w; it stops part-way once
// ctx is done (shutdown).
func (e *evaluator) loss(ctx context.Context, w []float32) (float64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		return 0, ErrClosed
	}
	l, err := train.EvalLossContext(ctx, e.m, w, e.batches)
	if err == nil && (math.IsNaN(l) || math.IsInf(l, 0)) {
		err = fmt.Errorf("node: validation loss is %v", l)
	}
	return l, err
}

func (e *evaluator) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		}
		tip := e.n.bc.Tip()
		e.hmu.Lock()
		same := e.last == tip.Hash
		e.hmu.Unlock()
		if same || e.n.belowSnapshot(tip.Height) {
			continue
		}
		w, err := e.n.bc.WeightsAt(tip.Hash)
		if err != nil {
			continue // reorged away meanwhile; the next tip wakes us
		}
		l, err := e.loss(ctx, w)
		if err != nil {
			if ctx.Err() == nil {
				e.n.log.Warn().Err(err).Uint64("height", tip.Height).Msg("validation loss")
			}
			continue
		}
		e.record(LossPoint{Height: tip.Height, Hash: tip.Hash, Loss: l, Time: time.Now()})
	}
}

// record appends p, dropping points at or above its height (a reorg).
func (e *evaluator) record(p LossPoint) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	k := len(e.hist)
	for k > 0 && e.hist[k-1].Height >= p.Height {
		k--
	}
	e.hist = append(e.hist[:k], p)
	if len(e.hist) > maxLossHistory {
		e.hist = append([]LossPoint(nil), e.hist[len(e.hist)-maxLossHistory/2:]...)
	}
	e.last = p.Hash
	e.n.m.lossBits.Store(math.Float64bits(p.Loss))
	e.n.m.lossKnown.Store(true)
}

func (e *evaluator) history() []LossPoint {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	return append([]LossPoint(nil), e.hist...)
}

func (e *evaluator) latest() (LossPoint, bool) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if len(e.hist) == 0 {
		return LossPoint{}, false
	}
	return e.hist[len(e.hist)-1], true
}
