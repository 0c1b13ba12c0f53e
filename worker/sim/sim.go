package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// Sentinel errors; every error of this package wraps one of them, or an
// error of chain/state or worker/train.
var (
	// ErrBadConfig: a simulation config or worker list that does not fit.
	ErrBadConfig = errors.New("sim: bad config")
	// ErrCanceled: the context ended the run early (the partial result is
	// returned with it).
	ErrCanceled = errors.New("sim: canceled")
)

// Mode is how a round's block is formed.
type Mode uint8

const (
	// Paper: each round ONE worker, drawn with probability proportional to
	// its hash power (it found the block), contributes its sketched update.
	Paper Mode = iota + 1
	// Pooled: every worker contributes; the block aggregates all sketched
	// updates (Apply scales their sum by GlobalLR/n, i.e. the mean).
	Pooled
)

func (m Mode) String() string {
	switch m {
	case Paper:
		return "paper"
	case Pooled:
		return "pooled"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Worker is one simulated participant: its key, hash power, private
// objective (its own data) and local optimizer. The error-feedback
// residual is kept by Run.
type Worker struct {
	Key       ed25519.PrivateKey
	HashPower float64
	Objective train.Objective
	Optimizer *train.Optimizer

	residual []float32
}

// NewKey derives a worker's deterministic ed25519 key from a seed and an
// index (simulations only).
func NewKey(seed uint64, i int) ed25519.PrivateKey {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	s := sha256.Sum256(append([]byte("gradientcoin/sim/key"), b[:]...))
	return ed25519.NewKeyFromSeed(s[:])
}

// Config is one simulation.
type Config struct {
	// Rules are the consensus rules: model (parameter count), sketch,
	// GlobalLR and LocalSteps (K, the local optimizer steps per round).
	Rules  state.Rules
	Mode   Mode
	Rounds int
	Seed   uint64
	// EvalEvery evaluates every that many rounds (and always after the
	// last); 0 means every round.
	EvalEvery int
	// ResetOptimizer clears each worker's optimizer state at the start of
	// every round (otherwise moments carry over between rounds).
	ResetOptimizer bool
	// PreTopK > 0 makes workers sparsify before sketching: of v = Δ +
	// residual they sketch only the PreTopK largest-magnitude entries
	// (sketch.TopK) and keep the rest in their residual (worker-side error
	// feedback). Count-sketch heavy-hitter recovery needs such sparse input:
	// on a dense v its error ‖v − u‖ exceeds ‖v‖ and plain error feedback
	// diverges.
	PreTopK int
	// NoErrorFeedback discards every residual (the part of an update the
	// compression dropped) instead of carrying it to the next round.
	NoErrorFeedback bool
	// ResidualDecay in [0, 1) shrinks every residual by the factor
	// 1 − ResidualDecay before it is added to the next update (leaky error
	// feedback, as DeMo's decayed momentum); 0 keeps it whole.
	ResidualDecay float64
	// BlockResidual (count-sketch heavy-hitter recovery in pooled mode)
	// recomputes every contributor's residual after the block: v − v|_J,
	// where J is the set of coordinates the block's recovery kept (what
	// Apply changed), instead of v − (the recovery of its own sketch alone).
	// In pooled mode Apply takes the top-k of the summed sketches, so J is
	// what was applied of each worker's update (up to the sketch's
	// estimation error); a worker's own top-k is not.
	BlockResidual bool
}

// Evaluator measures the weights after a round (a validation loss, a
// distance to the optimum, ...). round is 0 for the initial weights.
type Evaluator func(round int, w []float32) (float64, error)

// RoundStat records one round.
type RoundStat struct {
	Round        int   // 1-based; Round 0 is the initial evaluation
	Contributors []int // worker indices, in block order
	// TrainLoss is the mean over contributors of their mean local loss.
	TrainLoss float64
	// Eval is the evaluator's value after the round (NaN if not evaluated).
	Eval float64
	// Root is the state root of the weights after the round.
	Root [32]byte
	// Bytes is the total encoded size of the round's contributions.
	Bytes int
}

// Result is a finished (or canceled) simulation.
type Result struct {
	Rounds  []RoundStat // Rounds[0] is the initial state
	Weights []float32
}

// Curve returns (round, eval) for every evaluated round.
func (r *Result) Curve() (rounds []int, evals []float64) {
	for _, s := range r.Rounds {
		if !math.IsNaN(s.Eval) {
			rounds = append(rounds, s.Round)
			evals = append(evals, s.Eval)
		}
	}
	return
}

func hashParts(parts ...[]byte) [32]byte {
	h := sha256.New()
	var l [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(l[:], uint64(len(p)))
		h.Write(l[:])
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// pick draws an index with probability proportional to hp.
func pick(rng *rand.Rand, hp []float64, total float64) int {
	u := rng.Float64() * total
	for i, h := range hp {
		u -= h
		if u < 0 {
			return i
		}
	}
	// rounding: the last worker with positive power
	for i := len(hp) - 1; i >= 0; i-- {
		if hp[i] > 0 {
			return i
		}
	}
	return len(hp) - 1
}

// Run simulates cfg.Rounds blocks starting from weights w0 (not modified)
// through the real consensus path: each contributing worker trains
// Rules.LocalSteps steps from the parent weights, forms Δ = w_K − w_parent,
// and calls state.MakeContribution (error-feedback residual, sketch of the
// round's seed, quantization, signature); the block's encoded
// contributions go through state.Apply. Parent hashes form a simulated
// chain, so every round has a fresh sketch. Workers run one after another;
// the result is a deterministic function of the arguments.
func Run(ctx context.Context, cfg Config, w0 []float32, workers []*Worker, eval Evaluator) (*Result, error) {
	r := cfg.Rules
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	d := r.ParamCount()
	switch {
	case cfg.Mode != Paper && cfg.Mode != Pooled:
		return nil, fmt.Errorf("%w: unknown mode %d", ErrBadConfig, cfg.Mode)
	case cfg.Rounds < 0:
		return nil, fmt.Errorf("%w: %d rounds", ErrBadConfig, cfg.Rounds)
	case len(workers) == 0:
		return nil, fmt.Errorf("%w: no workers", ErrBadConfig)
	case len(w0) != d:
		return nil, fmt.Errorf("%w: %d initial weights, rules have %d parameters", ErrBadConfig, len(w0), d)
	case cfg.Mode == Pooled && len(workers) > r.MaxContributions:
		return nil, fmt.Errorf("%w: %d workers but at most %d contributions per block", ErrBadConfig, len(workers), r.MaxContributions)
	case eval == nil:
		return nil, fmt.Errorf("%w: no evaluator", ErrBadConfig)
	case cfg.PreTopK < 0 || cfg.PreTopK > d:
		return nil, fmt.Errorf("%w: pre-sketch top-k %d outside [0, %d]", ErrBadConfig, cfg.PreTopK, d)
	case !(cfg.ResidualDecay >= 0 && cfg.ResidualDecay < 1):
		return nil, fmt.Errorf("%w: residual decay %v outside [0, 1)", ErrBadConfig, cfg.ResidualDecay)
	case cfg.BlockResidual && (r.Sketch.TopK == 0 || r.Sketch.Family.IsChunked()):
		return nil, fmt.Errorf("%w: block residuals need count-sketch heavy-hitter recovery, not %s", ErrBadConfig, r.Sketch)
	}
	hp := make([]float64, len(workers))
	var total float64
	for i, wk := range workers {
		switch {
		case wk == nil || wk.Objective == nil || wk.Optimizer == nil:
			return nil, fmt.Errorf("%w: worker %d lacks an objective or optimizer", ErrBadConfig, i)
		case wk.Objective.NumParams() != d:
			return nil, fmt.Errorf("%w: worker %d's objective has %d parameters, rules have %d", ErrBadConfig, i, wk.Objective.NumParams(), d)
		case len(wk.Key) != ed25519.PrivateKeySize:
			return nil, fmt.Errorf("%w: worker %d has a key of %d bytes", ErrBadConfig, i, len(wk.Key))
		case !(wk.HashPower >= 0) || math.IsInf(wk.HashPower, 0):
			return nil, fmt.Errorf("%w: worker %d has hash power %v", ErrBadConfig, i, wk.HashPower)
		}
		hp[i] = wk.HashPower
		total += wk.HashPower
		wk.residual = nil
	}
	if cfg.Mode == Paper && !(total > 0) {
		return nil, fmt.Errorf("%w: paper mode needs positive total hash power", ErrBadConfig)
	}
	every := cfg.EvalEvery
	if every <= 0 {
		every = 1
	}
	w := append([]float32(nil), w0...)
	res := &Result{Weights: w}
	e0, err := eval(0, w)
	if err != nil {
		return nil, fmt.Errorf("evaluating initial weights: %w", err)
	}
	root := r.Root(w)
	res.Rounds = append(res.Rounds, RoundStat{Eval: e0, Root: root})
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x73696d))
	parent := hashParts([]byte("gradientcoin/sim/genesis"), u64(cfg.Seed), root[:])
	delta := make([]float32, d)
	for round := 1; round <= cfg.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("%w after %d rounds: %w", ErrCanceled, round-1, err)
		}
		var who []int
		if cfg.Mode == Paper {
			who = []int{pick(rng, hp, total)}
		} else {
			for i := range workers {
				who = append(who, i)
			}
		}
		st := RoundStat{Round: round, Contributors: who, Eval: math.NaN()}
		var raws, payloads [][]byte
		var sents, rests [][]float32
		for _, i := range who {
			wk := workers[i]
			if cfg.ResetOptimizer {
				wk.Optimizer.Reset()
			}
			seed := binary.LittleEndian.Uint64(func() []byte {
				h := hashParts([]byte("gradientcoin/sim/local"), u64(cfg.Seed), u64(uint64(round)), u64(uint64(i)))
				return h[:8]
			}())
			wk2, losses, err := train.Local(wk.Objective, w, wk.Optimizer, r.LocalSteps, seed)
			if err != nil {
				return res, fmt.Errorf("round %d, worker %d: %w", round, i, err)
			}
			var ml float64
			for _, l := range losses {
				ml += float64(l)
			}
			st.TrainLoss += ml / float64(len(losses)) / float64(len(who))
			for j := range delta {
				delta[j] = wk2[j] - w[j]
			}
			digest := hashParts([]byte("gradientcoin/sim/samples"), u64(seed))
			send, resid := delta, wk.residual
			if cfg.ResidualDecay > 0 && resid != nil {
				f := float32(1 - cfg.ResidualDecay)
				for j := range resid {
					resid[j] = float32(resid[j] * f)
				}
			}
			var rest []float32
			if cfg.PreTopK > 0 {
				send = append([]float32(nil), delta...)
				for j, e := range wk.residual {
					send[j] += e
				}
				rest = append([]float32(nil), send...)
				sketch.TopK(send, cfg.PreTopK)
				for j := range rest {
					rest[j] -= send[j]
				}
				resid = nil
			}
			if cfg.BlockResidual {
				// the vector this worker sketches: send + residual
				sent := append([]float32(nil), send...)
				for j, e := range resid {
					sent[j] += e
				}
				sents = append(sents, sent)
			}
			c, resid, err := state.MakeContribution(r, parent, send, resid, wk.Key, digest)
			if err != nil {
				return res, fmt.Errorf("round %d, worker %d: contribution: %w", round, i, err)
			}
			for j := range rest {
				resid[j] += rest[j]
			}
			wk.residual = resid
			if cfg.BlockResidual {
				rests = append(rests, rest)
				payloads = append(payloads, c.Payload)
			}
			if cfg.NoErrorFeedback {
				wk.residual = nil
			}
			raw := c.Encode()
			st.Bytes += len(raw)
			raws = append(raws, raw)
		}
		if cfg.BlockResidual && !cfg.NoErrorFeedback {
			if err := blockResiduals(r, parent, payloads, sents, rests, workers, who); err != nil {
				return res, fmt.Errorf("round %d: %w", round, err)
			}
		}
		if err := state.Apply(r, w, parent, raws); err != nil {
			return res, fmt.Errorf("round %d: apply: %w", round, err)
		}
		st.Root = r.Root(w)
		if round%every == 0 || round == cfg.Rounds {
			if st.Eval, err = eval(round, w); err != nil {
				return res, fmt.Errorf("round %d: evaluating: %w", round, err)
			}
		}
		res.Rounds = append(res.Rounds, st)
		parts := [][]byte{[]byte("gradientcoin/sim/block"), parent[:], st.Root[:]}
		parts = append(parts, raws...)
		parent = hashParts(parts...)
	}
	return res, nil
}

// blockResiduals sets each contributor's residual to v − sent|_J: v is what
// it meant to send (sent plus what pre-sparsification kept back), J the
// coordinates the block's de-sketch of the summed payloads kept.
func blockResiduals(r state.Rules, parent [32]byte, payloads [][]byte, sents, rests [][]float32, workers []*Worker, who []int) error {
	agg := make([]float32, sketch.AggregateLen(r.Sketch))
	for _, p := range payloads {
		if err := sketch.AggregateAdd(r.Sketch, agg, p); err != nil {
			return err
		}
	}
	sk, err := r.NewSketch(parent)
	if err != nil {
		return err
	}
	u := make([]float32, r.ParamCount())
	if err := sk.Desketch(u, agg); err != nil {
		return err
	}
	for n, i := range who {
		e := make([]float32, len(u))
		for j, s := range sents[n] {
			if u[j] == 0 {
				e[j] = s
			}
			if rests[n] != nil {
				e[j] += rests[n][j]
			}
		}
		workers[i].residual = e
	}
	return nil
}
