package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/gpu"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/miner"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// benchResult is one measured figure.
type benchResult struct {
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Detail  string  `json:"detail,omitempty"`
	Skipped string  `json:"skipped,omitempty"`
}

func cmdBench(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "bench", `bench [--network devnet] [--seconds 1] [--threads 0] [--json]

A quick built-in benchmark (a few seconds): SHA-256d hash rate on the CPU
(and on each GPU in a gccuda build), training tokens/s of the network's
model on the built-in corpus, and sketch throughput (GB/s of update
compressed with the network's sketch).`, 0)
	network := fs.String("network", chain.DevnetName, "whose model and sketch to measure: "+strings.Join(chain.NetworkNames(), "|"))
	secs := fs.Float64("seconds", 1, "seconds per measurement")
	threads := fs.Int("threads", 0, "CPU threads for hashing (0: all cores)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	p, err := chain.ParamsByName(*network)
	if err != nil {
		return fmt.Errorf("--network %s: unknown network (known: %s)", *network, strings.Join(chain.NetworkNames(), ", "))
	}
	if *secs <= 0 || *secs > 60 {
		return usageErrorf("bench: --seconds %g out of range (0..60]", *secs)
	}
	if *threads < 0 {
		return usageErrorf("bench: --threads %d is negative", *threads)
	}
	dur := time.Duration(*secs * float64(time.Second))
	var results []benchResult
	emit := func(r benchResult) {
		results = append(results, r)
		if !*asJSON {
			if r.Skipped != "" {
				fmt.Fprintf(env.stdout, "%-22s skipped: %s\n", r.Name, r.Skipped)
			} else {
				fmt.Fprintf(env.stdout, "%-22s %10.3f %-9s %s\n", r.Name, r.Value, r.Unit, r.Detail)
			}
		}
	}
	if !*asJSON {
		fmt.Fprintf(env.stdout, "gradientcoin bench: network %s, %d CPU cores, %s per measurement\n", p.Name, runtime.NumCPU(), dur)
	}

	// SHA-256d on the CPU.
	cpu := miner.NewCPU(*threads)
	rate, err := hashRate(ctx, cpu, dur)
	if err != nil {
		return fmt.Errorf("bench: cpu hashing: %w", err)
	}
	emit(benchResult{Name: "sha256d.cpu", Value: rate / 1e6, Unit: "MH/s", Detail: fmt.Sprintf("%d threads, %s", cpu.Threads(), cpu.Impl())})

	// SHA-256d on each GPU.
	if !gpu.Available() {
		emit(benchResult{Name: "sha256d.gpu", Skipped: "built without CUDA (-tags gccuda)"})
	} else if devs, err := gpu.Devices(); err != nil || len(devs) == 0 {
		emit(benchResult{Name: "sha256d.gpu", Skipped: fmt.Sprintf("no CUDA device (%v)", err)})
	} else {
		for _, d := range devs {
			name := fmt.Sprintf("sha256d.gpu%d", d.Ordinal)
			g, err := miner.NewGPU(d.Ordinal, gpu.SearchOptions{})
			if err != nil {
				emit(benchResult{Name: name, Skipped: oneLine(err.Error())})
				continue
			}
			rate, err := hashRate(ctx, g, dur)
			g.Close()
			if err != nil {
				emit(benchResult{Name: name, Skipped: oneLine(err.Error())})
				continue
			}
			emit(benchResult{Name: name, Value: rate / 1e9, Unit: "GH/s", Detail: d.Name})
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Training.
	r, err := benchTrain(ctx, p, dur)
	if err != nil {
		return fmt.Errorf("bench: training: %w", err)
	}
	emit(r)

	// Sketch.
	r, err = benchSketch(ctx, p, dur)
	if err != nil {
		return fmt.Errorf("bench: sketch: %w", err)
	}
	emit(r)

	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(map[string]any{
			"network": p.Name, "cpus": runtime.NumCPU(), "build": buildInfo(), "results": results,
		})
	}
	return nil
}

// hashRate runs a nonce search that cannot succeed (a zero target) for
// about d and returns hashes per second.
func hashRate(ctx context.Context, s miner.Solver, d time.Duration) (float64, error) {
	h := chain.Header{Version: chain.HeaderVersion, Height: 1, Timestamp: time.Now().Unix(), Bits: 0x2000ffff}
	job := chain.NewPowJob(&h)
	var target [32]byte // nothing meets it (a hash of zero aside)
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var total uint64
	next := uint64(0)
	for tctx.Err() == nil {
		_, found, n, err := s.Search(tctx, job, target, next, 1<<40)
		total += n
		next += n
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return 0, err
		}
		if found {
			next++ // astronomically unlikely; keep going
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// benchTrain measures AdamW training steps of the network's model.
func benchTrain(ctx context.Context, p *chain.Params, d time.Duration) (benchResult, error) {
	cfg := p.Training.Model
	const batch = 8
	seq := cfg.Context
	corp, err := data.Synthetic(data.SyntheticConfig{Problems: 4000})
	if err != nil {
		return benchResult{}, err
	}
	m, err := model.NewGPT(cfg, batch, seq, true)
	if err != nil {
		return benchResult{}, err
	}
	defer m.Close()
	s, err := data.NewSampler(corp.Train, nil, batch, seq)
	if err != nil {
		return benchResult{}, err
	}
	obj, err := train.NewGPTObjective(m, s)
	if err != nil {
		return benchResult{}, err
	}
	w, err := model.InitWeights(cfg, 1)
	if err != nil {
		return benchResult{}, err
	}
	mask, err := model.DecayMask(cfg)
	if err != nil {
		return benchResult{}, err
	}
	opt, err := train.NewOptimizer(train.OptConfig{Kind: train.AdamW, LR: p.Training.LocalLR, WeightDecay: 0.1, ClipNorm: 1}, len(w), mask)
	if err != nil {
		return benchResult{}, err
	}
	rng := train.NewRand(1)
	// One warm-up step (graph allocation), then timed steps.
	if _, err := train.Steps(obj, w, opt, 1, rng); err != nil {
		return benchResult{}, err
	}
	start := time.Now()
	steps := 0
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := train.Steps(obj, w, opt, 1, rng); err != nil {
			return benchResult{}, err
		}
		steps++
	}
	el := time.Since(start).Seconds()
	backend, _ := model.AttnSoftmaxBackend()
	return benchResult{
		Name: "train", Value: float64(steps*batch*seq) / el, Unit: "tokens/s",
		Detail: fmt.Sprintf("%d params, batch %d×%d, %d steps, softmax on %s", m.NumParams(), batch, seq, steps, backend),
	}, nil
}

// benchSketch measures the network's sketch (S·x) on a vector of at least
// 4 Mi floats: GB/s of input.
func benchSketch(ctx context.Context, p *chain.Params, d time.Duration) (benchResult, error) {
	cfg := p.Training.Sketch
	n := max(p.Training.ParamCount(), 1<<22)
	var seed [32]byte
	seed[0] = 1
	sk, err := sketch.New(cfg, n, seed)
	if err != nil {
		return benchResult{}, err
	}
	x := make([]float32, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	dst := make([]float32, sk.Rows())
	start := time.Now()
	reps := 0
	for time.Since(start) < d && ctx.Err() == nil || reps == 0 {
		if err := sk.Apply(dst, x); err != nil {
			return benchResult{}, err
		}
		reps++
	}
	el := time.Since(start).Seconds()
	return benchResult{
		Name: "sketch.cpu", Value: float64(reps) * float64(4*n) / el / 1e9, Unit: "GB/s",
		Detail: fmt.Sprintf("%s, d=%d, %d reps", cfg, n, reps),
	}, nil
}
