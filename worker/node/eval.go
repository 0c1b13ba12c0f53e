package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
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
	// Eval names the validation batches the loss was measured on (see
	// evalID); the history file keeps only points of the current ones.
	Eval string `json:"eval,omitempty"`
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

	id   string   // evalID of batches
	file *os.File // LossFile, appended to (nil: read-only or unwritable)
	werr bool     // a write failed (logged once)
}

// evalID is a short fingerprint of the validation batches: a loss is only
// comparable with losses on the same bytes (another --data, another
// model context or another EvalBatches changes it).
func evalID(batches []data.Batch) string {
	h := sha256.New()
	var buf [4]byte
	for _, b := range batches {
		binary.LittleEndian.PutUint32(buf[:], uint32(b.B))
		h.Write(buf[:])
		binary.LittleEndian.PutUint32(buf[:], uint32(b.T))
		h.Write(buf[:])
		for _, xs := range [][]int32{b.Inputs, b.Targets} {
			for _, x := range xs {
				binary.LittleEndian.PutUint32(buf[:], uint32(x))
				h.Write(buf[:])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
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
	e := &evaluator{n: n, batches: batches, m: m, wake: make(chan struct{}, 1), id: evalID(batches)}
	e.load()
	return e, nil
}

// load reads the loss history of earlier runs from LossFile: the points
// measured on the same validation batches whose block is still on the
// main chain, the newest maxLossHistory of them. A file grown past twice
// that is rewritten with the points kept. Unless read-only, the file is
// then opened for appending. Problems are logged, never fatal: the
// history is a convenience, not state.
func (e *evaluator) load() {
	n := e.n
	path := filepath.Join(n.layout.Dir, LossFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		n.log.Warn().Err(err).Msg("loss history: not read")
	}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		lines++
		var p LossPoint
		if json.Unmarshal(sc.Bytes(), &p) != nil || p.Eval != e.id || math.IsNaN(p.Loss) {
			continue
		}
		if h, ok := n.bc.HashByHeight(p.Height); !ok || h != p.Hash {
			continue // reorged away, or above a tip that went back
		}
		e.append(p)
	}
	if err := sc.Err(); err != nil {
		n.log.Warn().Err(err).Int("line", lines+1).Msg("loss history: read stopped at a bad line")
	}
	if len(e.hist) > 0 {
		e.last = e.hist[len(e.hist)-1].Hash
		e.n.m.lossBits.Store(math.Float64bits(e.hist[len(e.hist)-1].Loss))
		e.n.m.lossKnown.Store(true)
	}
	if n.cfg.ReadOnly {
		return
	}
	if lines > 2*maxLossHistory {
		var buf bytes.Buffer
		for _, p := range e.hist {
			line, _ := json.Marshal(p)
			buf.Write(append(line, '\n'))
		}
		if err := writeFileAtomic(path, buf.Bytes(), 0o644); err != nil {
			n.log.Warn().Err(err).Msg("loss history: not compacted")
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		n.log.Warn().Err(err).Msg("loss history: not saved")
		return
	}
	e.file = f
}

func (e *evaluator) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m != nil {
		e.m.Close()
		e.m = nil
	}
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if e.file != nil {
		e.file.Close()
		e.file = nil
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

// record appends p, dropping points at or above its height (a reorg),
// and adds it to the history file.
func (e *evaluator) record(p LossPoint) {
	p.Eval = e.id
	e.hmu.Lock()
	defer e.hmu.Unlock()
	e.append(p)
	e.last = p.Hash
	e.n.m.lossBits.Store(math.Float64bits(p.Loss))
	e.n.m.lossKnown.Store(true)
	if e.file != nil {
		line, _ := json.Marshal(p)
		if _, err := e.file.Write(append(line, '\n')); err != nil && !e.werr {
			e.werr = true
			e.n.log.Warn().Err(err).Msg("loss history: write failed (further failures are not logged)")
		}
	}
}

// append adds p to the history (hmu held or not yet shared), dropping
// points at or above its height.
func (e *evaluator) append(p LossPoint) {
	k := len(e.hist)
	for k > 0 && e.hist[k-1].Height >= p.Height {
		k--
	}
	e.hist = append(e.hist[:k], p)
	if len(e.hist) > maxLossHistory {
		e.hist = append([]LossPoint(nil), e.hist[len(e.hist)-maxLossHistory/2:]...)
	}
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
