// Command compression measures what update compression costs in model
// quality: a small byte-level GPT trained on tinyshakespeare by 8 workers
// in pooled mode (every round all workers contribute; worker/sim through
// state.MakeContribution and state.Apply), for the dense baseline, every
// sketch family and the chunked top-k families at several compression
// ratios, comparing the validation loss after the same number of rounds.
//
// The corpus is ../shared/data/tinyshakespeare.txt (override with -data);
// when it is absent the program says so and exits 0 — the product never
// depends on it.
//
// Usage: go run ./bench/compression [-rounds 100] [-ratios 10,100,146,1000] [-jobs 2]
//
// It writes compression.csv, compression.md and compression.svg. Runs are
// independent and deterministic; -jobs runs that many at once (each with
// its own model instances), which changes the wall times, not the results.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/sim"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

type opts struct {
	data, out                      string
	rounds, workers, k, batch, seq int
	layers, width, heads, mlp      int
	lr                             float64
	ratios                         []int
	families                       []string
	evalBatches                    int
	seed                           uint64
	lrRule                         string
	jobs                           int
	chunk, vbits                   int
	chunkLRs, denseLRs             []float32
	denseCost                      float64 // largest m·d for Gaussian / AMS
	goalSeeds                      []uint64
	efDecay                        float64
	blockResidual                  bool
	dryRun                         bool
}

func main() {
	var o opts
	var ratios, fams, clr, dlr, seeds string
	flag.StringVar(&o.data, "data", "/work/shared/data/tinyshakespeare.txt", "text corpus")
	flag.StringVar(&o.out, "out", "bench/results", "output folder")
	flag.IntVar(&o.rounds, "rounds", 100, "rounds (blocks) per run")
	flag.IntVar(&o.workers, "workers", 8, "workers, all contributing every round")
	flag.IntVar(&o.k, "k", 4, "local AdamW steps per round")
	flag.IntVar(&o.batch, "batch", 8, "sequences per local batch")
	flag.IntVar(&o.seq, "seq", 32, "tokens per sequence (= model context)")
	flag.IntVar(&o.layers, "layers", 2, "transformer layers")
	flag.IntVar(&o.width, "width", 32, "model width")
	flag.IntVar(&o.heads, "heads", 4, "attention heads")
	flag.IntVar(&o.mlp, "mlp", 4, "MLP multiplier")
	flag.Float64Var(&o.lr, "lr", 1e-2, "local AdamW learning rate")
	flag.StringVar(&ratios, "ratios", "10,100,146,1000", "compression ratios (float32 bytes / payload bytes)")
	flag.StringVar(&fams, "families", "gaussian,srht,ams,countsketch,sparse1,sparse2,countsketch-topk,countsketch-topk-noef,chunktopk,chunktopk-wht",
		"families (countsketch-topk-noef: heavy-hitter recovery without error feedback)")
	flag.IntVar(&o.evalBatches, "eval-batches", 8, "validation batches of 16 sequences")
	flag.Uint64Var(&o.seed, "seed", 1, "seed")
	flag.StringVar(&o.lrRule, "global-lr", "grid10", "GlobalLR of the unbiased families: grid (1 and 1/√c), grid10 (1 and 1/√c at c ≤ 10, 1/√c above), sqrt (1/√c), inv (1/c) or one")
	flag.IntVar(&o.jobs, "jobs", runtime.NumCPU(), "runs at once")
	flag.IntVar(&o.chunk, "chunk", 1024, "chunk size C of the chunked top-k families (a power of two)")
	flag.IntVar(&o.vbits, "vbits", 8, "value bits of the chunked top-k families (32, 8, 4, 2, 1)")
	flag.StringVar(&clr, "chunk-global-lr", "1,2", "GlobalLR grid of the chunked top-k families (best reported)")
	flag.StringVar(&dlr, "dense-global-lr", "1,2", "GlobalLR grid of the dense baseline (best reported)")
	flag.Float64Var(&o.denseCost, "dense-sketch-max", 2e7, "skip Gaussian and AMS where m·d exceeds this (their sketch costs O(m·d) per worker and round)")
	flag.StringVar(&seeds, "goal-seeds", "2,3", "extra seeds for dense and the best run at ≥146× (empty: none)")
	flag.BoolVar(&o.dryRun, "plan", false, "print the runs and exit")
	flag.BoolVar(&o.blockResidual, "block-residual", true, "countsketch-topk: residuals against the block's recovered support (sim.Config.BlockResidual)")
	flag.Float64Var(&o.efDecay, "ef-decay", 0, "leaky error feedback of the chunked top-k families: residual shrink per round")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "compression:", err)
		os.Exit(2)
	}
	for _, s := range strings.Split(ratios, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r < 1 {
			fail(fmt.Errorf("bad ratio %q", s))
		}
		o.ratios = append(o.ratios, r)
	}
	o.families = strings.Split(fams, ",")
	var err error
	if o.chunkLRs, err = parseLRs(clr); err != nil {
		fail(err)
	}
	if o.denseLRs, err = parseLRs(dlr); err != nil {
		fail(err)
	}
	if strings.TrimSpace(seeds) != "" {
		for _, s := range strings.Split(seeds, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				fail(fmt.Errorf("bad seed %q", s))
			}
			o.goalSeeds = append(o.goalSeeds, v)
		}
	}
	if o.jobs < 1 {
		o.jobs = 1
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "compression:", err)
		os.Exit(1)
	}
}

func parseLRs(s string) ([]float32, error) {
	var out []float32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil || !(v > 0) {
			return nil, fmt.Errorf("bad learning rate %q", f)
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// job is one training run.
type job struct {
	family   string
	ratio    int // nominal; 1 = dense
	cfg      sketch.Config
	globalLR float32
	pre      int
	noEF     bool
	seed     uint64
	skip     string // why the run was not made
}

type result struct {
	job
	cached  bool // taken from the cache file
	rounds  []int
	val     []float64
	final   float64
	err     error
	elapsed time.Duration
}

// byteRatio is the payload's compression against float32: 4d / payload
// bytes.
func (j job) byteRatio(d int) float64 {
	return float64(4*d) / float64(sketch.PayloadSize(j.cfg))
}

// plan returns the runs of a family at compression ratio c for dimension
// d: their sketch configs, GlobalLRs and pre-sparsification.
func plan(o opts, fam string, d, c int) ([]job, error) {
	m := max(1, d/c)
	cf := float64(d) / float64(m)
	base := job{family: fam, ratio: c, seed: o.seed}
	var lrs []float32
	switch rule := o.lrRule; {
	case rule == "grid" || (rule == "grid10" && c <= 10):
		lrs = []float32{1, float32(1 / math.Sqrt(cf))}
	case rule == "sqrt" || rule == "grid10":
		lrs = []float32{float32(1 / math.Sqrt(cf))}
	case rule == "inv":
		lrs = []float32{float32(1 / cf)}
	case rule == "one":
		lrs = []float32{1}
	default:
		return nil, fmt.Errorf("unknown -global-lr rule %q", rule)
	}
	q := sketch.Config{QuantBits: 32}
	switch fam {
	case "gaussian":
		q.Family, q.Rows = sketch.Gaussian, m
	case "srht":
		q.Family, q.Rows = sketch.SRHT, m
	case "ams":
		q.Family, q.Rows = sketch.AMS, m
	case "countsketch":
		q.Family, q.Rows, q.NNZ = sketch.CountSketch, m, 1
	case "sparse1":
		q.Family, q.Rows, q.NNZ = sketch.SparseEmbedding1, m, min(4, m)
	case "sparse2":
		s := min(4, m)
		q.Family, q.Rows, q.NNZ = sketch.SparseEmbedding2, max(s, m/s*s), s
	case "chunktopk", "chunktopk-wht":
		cfg, err := chunkFor(fam, d, c, o.chunk, o.vbits)
		if err != nil {
			return nil, err
		}
		var out []job
		for _, lr := range o.chunkLRs {
			j := base
			j.cfg, j.globalLR = cfg, lr
			out = append(out, j)
		}
		return out, nil
	case "countsketch-topk", "countsketch-topk-noef":
		// Heavy-hitter recovery with error feedback: 2 tables of width
		// w = m/2, recover TopK = w/4 coordinates; every worker
		// pre-sparsifies to TopK/workers entries so the block's aggregate
		// stays recoverable. GlobalLR 1.
		s := min(2, m)
		rows := max(s, m/s*s)
		topk := max(1, rows/s/4)
		q.Family, q.Rows, q.NNZ, q.TopK = sketch.CountSketch, rows, s, topk
		j := base
		j.cfg, j.globalLR, j.pre, j.noEF = q, 1, max(1, topk/o.workers), fam == "countsketch-topk-noef"
		return []job{j}, nil
	default:
		return nil, fmt.Errorf("unknown family %q", fam)
	}
	var out []job
	for _, lr := range lrs {
		j := base
		j.cfg, j.globalLR = q, lr
		if (q.Family == sketch.Gaussian || q.Family == sketch.AMS) && float64(q.Rows)*float64(d) > o.denseCost {
			j.skip = fmt.Sprintf("skipped: m·d = %.2g > %.2g (O(m·d) sketch per worker and round)", float64(q.Rows)*float64(d), o.denseCost)
		}
		out = append(out, j)
	}
	return out, nil
}

// chunkFor returns the chunked top-k config with the largest per-chunk k
// whose payload is at most 4d/c bytes (compression ≥ c against float32),
// with chunks of the given size or, where not even k = 1 fits (the
// per-chunk scale and indices cost too much at high ratios), the smallest
// larger power of two that fits.
func chunkFor(fam string, d, c, chunk, vb int) (sketch.Config, error) {
	f := sketch.ChunkTopK
	if fam == "chunktopk-wht" {
		f = sketch.ChunkTopKWHT
	}
	for chunk > 2 && chunk/2 >= d {
		chunk /= 2
	}
	for ; chunk <= sketch.MaxChunk; chunk *= 2 {
		nc := (d + chunk - 1) / chunk
		best := sketch.Config{}
		for k := 1; k <= chunk; k++ {
			q := sketch.Config{Family: f, Rows: nc * k, TopK: k, QuantBits: vb, QuantBlock: chunk}
			if q.ValidateDim(d) != nil || sketch.PayloadSize(q)*c > 4*d {
				break
			}
			best = q
		}
		if best.Rows != 0 {
			return best, nil
		}
	}
	return sketch.Config{}, fmt.Errorf("%s: no chunk and k fit %d× at d=%d with %d-bit values", fam, c, d, vb)
}

// env is what every run shares; models are per job slot.
type env struct {
	o    opts
	mc   state.ModelConfig
	d    int
	corp *data.Corpus
	vb   []data.Batch
	mask []bool
}

type models struct{ train, eval *model.GPT }

func (e *env) newModels() (models, error) {
	tm, err := model.NewGPT(e.mc, e.o.batch, e.o.seq, true)
	if err != nil {
		return models{}, err
	}
	em, err := model.NewGPT(e.mc, 16, e.o.seq, false)
	if err != nil {
		tm.Close()
		return models{}, err
	}
	return models{tm, em}, nil
}

func (e *env) one(ms models, jb job) result {
	o := e.o
	res := result{job: jb, final: math.NaN()}
	if jb.skip != "" {
		return res
	}
	r := state.Rules{Model: e.mc, Sketch: jb.cfg, InitSeed: [32]byte{'c', 'o', 'm', 'p'}, GlobalLR: jb.globalLR, LocalLR: float32(o.lr),
		LocalSteps: o.k, MaxContributions: o.workers, ChunkSize: state.DefaultChunkSize}
	r.MaxContributionBytes = state.ContributionSize(jb.cfg)
	w0, err := state.Genesis(r)
	if err != nil {
		res.err = err
		return res
	}
	var ws []*sim.Worker
	for i := 0; i < o.workers; i++ {
		key := sim.NewKey(jb.seed, i)
		pages, err := e.corp.Shard(key.Public().(ed25519.PublicKey), o.workers)
		if err != nil {
			res.err = err
			return res
		}
		smp, err := data.NewSampler(e.corp.Train, pages, o.batch, o.seq)
		if err != nil {
			res.err = err
			return res
		}
		obj, err := train.NewGPTObjective(ms.train, smp)
		if err != nil {
			res.err = err
			return res
		}
		opt, err := train.NewOptimizer(train.OptConfig{Kind: train.AdamW, LR: float32(o.lr), WeightDecay: 0.1, ClipNorm: 1}, e.d, e.mask)
		if err != nil {
			res.err = err
			return res
		}
		ws = append(ws, &sim.Worker{Key: key, HashPower: 1, Objective: obj, Optimizer: opt})
	}
	eval := func(round int, w []float32) (float64, error) { return train.EvalLoss(ms.eval, w, e.vb) }
	start := time.Now()
	scfg := sim.Config{Rules: r, Mode: sim.Pooled, Rounds: o.rounds, Seed: jb.seed, EvalEvery: max(1, o.rounds/20), PreTopK: jb.pre, NoErrorFeedback: jb.noEF}
	if jb.cfg.Family.IsChunked() {
		scfg.ResidualDecay = o.efDecay
	}
	if jb.cfg.TopK > 0 && !jb.cfg.Family.IsChunked() {
		scfg.BlockResidual = o.blockResidual
	}
	out, err := sim.Run(context.Background(), scfg, w0, ws, eval)
	res.elapsed = time.Since(start)
	res.err = err
	if out != nil {
		res.rounds, res.val = out.Curve()
	}
	if err == nil && len(res.val) > 0 {
		res.final = res.val[len(res.val)-1]
	}
	return res
}

// protocol is everything besides the job that a run's result depends on.
func (e *env) protocol() string {
	o := e.o
	return fmt.Sprintf("d=%d rounds=%d workers=%d k=%d batch=%d seq=%d layers=%d width=%d heads=%d mlp=%d lr=%g eval=%d efdecay=%g block=%v data=%s",
		e.d, o.rounds, o.workers, o.k, o.batch, o.seq, o.layers, o.width, o.heads, o.mlp, o.lr, o.evalBatches, o.efDecay, o.blockResidual, filepath.Base(o.data))
}

// key identifies a run in the cache (GlobalLR as in the CSV, 5 digits).
func (e *env) key(j job) string {
	return fmt.Sprintf("%s|%s|%d|%s|%s|%d|%v|%d", e.protocol(), j.family, j.ratio, j.cfg, strconv.FormatFloat(float64(j.globalLR), 'g', 5, 32), j.pre, j.noEF, j.seed)
}

// cached is one finished run in the cache file (compression-runs.jsonl in
// the output folder): runs are deterministic, so a rerun with more
// configurations only trains the new ones.
type cached struct {
	Key     string   `json:"key"`
	Rounds  []int    `json:"rounds"`
	Val     []string `json:"val"` // strconv 'g' (NaN and ±Inf included)
	Seconds float64  `json:"seconds"`
	Err     string   `json:"err,omitempty"`
}

func (e *env) loadCache() map[string]cached {
	m := map[string]cached{}
	b, err := os.ReadFile(filepath.Join(e.o.out, "compression-runs.jsonl"))
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(b), "\n") {
		var c cached
		if json.Unmarshal([]byte(l), &c) == nil && c.Key != "" && c.Err == "" {
			m[c.Key] = c
		}
	}
	return m
}

func (e *env) saveCache(rs []result) error {
	if err := os.MkdirAll(e.o.out, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(e.o.out, "compression-runs.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.skip != "" || r.cached {
			continue
		}
		c := cached{Key: e.key(r.job), Rounds: r.rounds, Seconds: r.elapsed.Seconds()}
		for _, v := range r.val {
			c.Val = append(c.Val, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if r.err != nil {
			c.Err = r.err.Error()
		}
		b, _ := json.Marshal(c)
		f.Write(append(b, '\n'))
	}
	return f.Close()
}

// runAll runs the jobs o.jobs at a time (taking finished ones from the
// cache); results are in job order.
func (e *env) runAll(jobs []job) ([]result, error) {
	out := make([]result, len(jobs))
	cache := e.loadCache()
	next := make(chan int, len(jobs))
	todo := 0
	for i, j := range jobs {
		if c, ok := cache[e.key(j)]; ok && j.skip == "" && len(c.Val) == len(c.Rounds) {
			out[i] = result{job: j, rounds: c.Rounds, final: math.NaN(), elapsed: time.Duration(c.Seconds * float64(time.Second)), cached: true}
			for _, v := range c.Val {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					x = math.NaN()
				}
				out[i].val = append(out[i].val, x)
			}
			if len(out[i].val) > 0 {
				out[i].final = out[i].val[len(out[i].val)-1]
			}
			printRun(out[i], e.d)
			continue
		}
		next <- i
		todo++
	}
	close(next)
	defer func() { e.saveCache(out) }()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for s := 0; s < min(e.o.jobs, todo); s++ {
		ms, err := e.newModels()
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ms.train.Close()
			defer ms.eval.Close()
			for i := range next {
				r := e.one(ms, jobs[i])
				out[i] = r
				mu.Lock()
				printRun(r, e.d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func printRun(r result, d int) {
	status := ""
	switch {
	case r.skip != "":
		status = " " + r.skip
	case r.err != nil:
		status = " FAILED: " + r.err.Error()
	case r.cached:
		status = " (cached)"
	}
	fmt.Printf("%-21s %5d× (%6.1f×) seed %d  %-44s GlobalLR %-8.4g val %.4f  (%v)%s\n", r.family, r.ratio, r.byteRatio(d), r.seed, r.cfg, r.globalLR, r.final, r.elapsed.Round(time.Second), status)
}

func run(o opts) error {
	text, err := os.ReadFile(o.data)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("compression: %s is absent; skipping the experiment (it needs that corpus; nothing else does)\n", o.data)
		return nil
	}
	if err != nil {
		return err
	}
	corp, err := data.FromBytes(o.data, text)
	if err != nil {
		return err
	}
	e := &env{o: o, corp: corp}
	e.mc = state.ModelConfig{Kind: state.ModelGPT, Vocab: 256, Context: o.seq, Layers: o.layers, Width: o.width, Heads: o.heads, MLPMult: o.mlp, InitStd: 0.02}
	if e.d = e.mc.ParamCount(); e.d == 0 {
		return e.mc.Validate()
	}
	if e.vb, err = data.Windows(corp.Val, 16, o.seq, o.evalBatches); err != nil {
		return err
	}
	if e.mask, err = model.DecayMask(e.mc); err != nil {
		return err
	}
	d := e.d
	fmt.Printf("model: %d layers, width %d, %d heads, context %d, MLP ×%d: d = %d parameters\n", o.layers, o.width, o.heads, o.seq, o.mlp, d)
	fmt.Printf("training: %d workers × %d rounds × K=%d AdamW steps (lr %g) of %d×%d tokens; validation: %d×16×%d tokens; %d runs at once\n",
		o.workers, o.rounds, o.k, o.lr, o.batch, o.seq, len(e.vb), o.seq, o.jobs)

	var jobs []job
	for _, glr := range o.denseLRs {
		jobs = append(jobs, job{family: "dense", ratio: 1, cfg: sketch.Config{Family: sketch.Identity, Rows: d, QuantBits: 32}, globalLR: glr, seed: o.seed})
	}
	for _, fam := range o.families {
		for _, c := range o.ratios {
			js, err := plan(o, fam, d, c)
			if err != nil {
				return err
			}
			jobs = append(jobs, js...)
		}
	}
	if o.dryRun {
		for _, j := range jobs {
			printRun(result{job: j, final: math.NaN()}, d)
		}
		return nil
	}
	start := time.Now()
	all, err := e.runAll(jobs)
	if err != nil {
		return err
	}
	dense := result{final: math.NaN()}
	best := map[string]result{}
	for _, r := range all {
		if r.family == "dense" {
			if dense.family == "" || better(r, dense) {
				dense = r
			}
			continue
		}
		key := fmt.Sprintf("%s/%d", r.family, r.ratio)
		if b, ok := best[key]; !ok || better(r, b) {
			best[key] = r
		}
	}
	// The goal check: dense and the best run at ≥ 146× with more seeds.
	var seedRuns []result
	if len(o.goalSeeds) > 0 {
		hi, ok := bestAbove(best, 146)
		if ok {
			var sj []job
			for _, s := range o.goalSeeds {
				a, b := dense.job, hi.job
				a.seed, b.seed = s, s
				sj = append(sj, a, b)
			}
			if seedRuns, err = e.runAll(sj); err != nil {
				return err
			}
		}
	}
	total := time.Since(start)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(o.out, "compression.csv"), append(append([]result(nil), all...), seedRuns...), d); err != nil {
		return err
	}
	if err := writePlot(filepath.Join(o.out, "compression.svg"), dense, best, o, d); err != nil {
		return err
	}
	return writeMarkdown(filepath.Join(o.out, "compression.md"), dense, best, all, seedRuns, o, d, total)
}

func better(a, b result) bool {
	if math.IsNaN(b.final) {
		return !math.IsNaN(a.final)
	}
	return a.final < b.final
}

// bestAbove is the best run at a nominal ratio ≥ c.
func bestAbove(best map[string]result, c int) (result, bool) {
	var keys []string
	for k := range best {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out, ok := result{final: math.Inf(1)}, false
	for _, k := range keys {
		if r := best[k]; r.ratio >= c && r.err == nil && r.skip == "" && r.final < out.final {
			out, ok = r, true
		}
	}
	return out, ok
}

func writeCSV(path string, all []result, d int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"family", "ratio", "byte_ratio", "sketch", "global_lr", "pre_topk", "seed", "round", "val_loss"})
	for _, r := range all {
		for i, rd := range r.rounds {
			w.Write([]string{r.family, strconv.Itoa(r.ratio), strconv.FormatFloat(r.byteRatio(d), 'f', 1, 64), r.cfg.String(),
				strconv.FormatFloat(float64(r.globalLR), 'g', 5, 32), strconv.Itoa(r.pre), strconv.FormatUint(r.seed, 10),
				strconv.Itoa(rd), strconv.FormatFloat(r.val[i], 'f', 5, 64)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writePlot(path string, dense result, best map[string]result, o opts, d int) error {
	p := sim.Plot{
		Title:  fmt.Sprintf("tinyshakespeare, %d workers pooled, %d rounds, d=%d: validation loss vs compression", o.workers, o.rounds, d),
		XLabel: "log10 compression ratio (0 = dense)", YLabel: "validation loss (nats/byte)",
	}
	xmax := math.Log10(float64(slicesMax(o.ratios)))
	p.Series = append(p.Series, sim.Series{Name: "dense", X: []float64{0, xmax}, Y: []float64{dense.final, dense.final}, Dash: true})
	p.Series = append(p.Series, sim.Series{Name: "dense +2%", X: []float64{0, xmax}, Y: []float64{dense.final * 1.02, dense.final * 1.02}, Dash: true})
	for _, fam := range o.families {
		s := sim.Series{Name: fam}
		for _, c := range o.ratios {
			r, ok := best[fmt.Sprintf("%s/%d", fam, c)]
			if !ok || r.skip != "" || r.err != nil {
				continue
			}
			s.X = append(s.X, math.Log10(float64(c)))
			s.Y = append(s.Y, math.Min(r.final, 6))
		}
		p.Series = append(p.Series, s)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func slicesMax(v []int) int {
	m := 1
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// machine describes where the experiment ran.
func machine() (cpu, commit string) {
	cpu = fmt.Sprintf("%d logical CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.Index(l, ":"); i >= 0 {
					cpu = strings.TrimSpace(l[i+1:]) + ", " + cpu
				}
				break
			}
		}
	}
	commit = "unknown"
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--", "chain/sketch", "chain/state", "worker/sim", "bench/compression").Output(); err == nil && len(st) > 0 {
			commit += " (with uncommitted changes to the measured code)"
		}
	}
	return cpu, commit
}

func meanSpread(v []float64) (mean, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		mean += x
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return mean / float64(len(v)), lo, hi
}

func writeMarkdown(path string, dense result, best map[string]result, all, seedRuns []result, o opts, d int, total time.Duration) error {
	var b strings.Builder
	cpu, commit := machine()
	b.WriteString("# Compression experiment (tinyshakespeare)\n\n")
	ncached := 0
	for _, r := range append(append([]result(nil), all...), seedRuns...) {
		if r.cached {
			ncached++
		}
	}
	fmt.Fprintf(&b, "Measured %s at commit %s on %s; this invocation took %v with %d runs at once",
		time.Now().UTC().Format("2006-01-02"), commit, cpu, total.Round(time.Minute), o.jobs)
	if ncached > 0 {
		fmt.Fprintf(&b, " (%d runs came from compression-runs.jsonl, trained by an earlier invocation of the same protocol; their times are from then)", ncached)
	}
	b.WriteString(". Run times include whatever else the machine was doing.\n\n")
	fmt.Fprintf(&b, "Reproduce: `go run ./bench/compression -rounds %d -workers %d -k %d -batch %d -seq %d -layers %d -width %d -heads %d -mlp %d -lr %g -ratios %s -families %s -global-lr %s -chunk %d -vbits %d -chunk-global-lr %s -dense-global-lr %s -dense-sketch-max %g -goal-seeds %s -seed %d -jobs %d`\n\n",
		o.rounds, o.workers, o.k, o.batch, o.seq, o.layers, o.width, o.heads, o.mlp, o.lr, joinInts(o.ratios), strings.Join(o.families, ","), o.lrRule,
		o.chunk, o.vbits, joinLRs(o.chunkLRs), joinLRs(o.denseLRs), o.denseCost, joinU64(o.goalSeeds), o.seed, o.jobs)
	b.WriteString("## Protocol\n\n")
	fmt.Fprintf(&b, "- Model: byte-level GPT, %d layers, width %d, %d heads, context %d, MLP ×%d: **d = %d** parameters (the devnet model's shape; the previous run used d = 9,088 and 50 rounds).\n", o.layers, o.width, o.heads, o.seq, o.mlp, d)
	fmt.Fprintf(&b, "- %d workers, each on its own shard of the training split (90%%), pooled mode: every round all workers take K=%d AdamW steps (lr %g, wd 0.1, clip 1, moments kept across rounds) of %d×%d tokens from the block's weights and contribute Δ = w_K − w_parent through `state.MakeContribution`; `state.Apply` aggregates the block and adds GlobalLR/%d of the de-sketched sum.\n", o.workers, o.k, o.lr, o.batch, o.seq, o.workers)
	fmt.Fprintf(&b, "- Validation loss: mean cross-entropy (nats per byte) on %d×16 windows of %d bytes of the validation split, after **%d rounds** (the same for every row).\n", o.evalBatches, o.seq, o.rounds)
	b.WriteString("- Compression ratio = 4d / payload bytes (float32 against the contribution's payload; the fixed 188-byte header and signature are not counted). Columns are nominal ratios c; the sketch families use m = ⌊d/c⌋ float32 values (ratio d/m ≥ c); the chunked top-k families take the largest k per chunk whose payload is ≤ 4d/c bytes (actual ratios in the table of all runs).\n\n")
	b.WriteString("What each row is:\n\n")
	b.WriteString("- **dense**: identity sketch (no compression), best GlobalLR of " + joinLRs(o.denseLRs) + ".\n")
	b.WriteString("- **gaussian, srht, ams, countsketch (1 table), sparse1 / sparse2 (4 nonzeros per column)**: the paper's unbiased linear sketches, no error feedback; their de-sketch adds noise ≈ √c·‖v‖, so GlobalLR is scaled down: ")
	switch o.lrRule {
	case "grid10":
		b.WriteString("best of 1 and 1/√c at 10×, 1/√c above (the previous run's grid found 1/√c far better at every ratio ≥ 100×).")
	case "grid":
		b.WriteString("best of 1 and 1/√c.")
	default:
		fmt.Fprintf(&b, "rule %q.", o.lrRule)
	}
	fmt.Fprintf(&b, " Gaussian and AMS generate O(m·d) matrix entries per worker and round; runs with m·d > %.2g are skipped (marked) to keep the experiment within its time budget — SRHT, the count sketch and the sparse embeddings have the same statistics at O(d log d) or O(d).\n", o.denseCost)
	b.WriteString("- **countsketch-topk**: count sketch (2 tables) with heavy-hitter recovery of TopK = width/4 coordinates of the block's summed sketches, error feedback, each worker pre-sparsifying to TopK/workers entries, GlobalLR 1; **-noef** drops the residuals.\n")
	fmt.Fprintf(&b, "- **chunktopk / chunktopk-wht** (new families, `sketch.ChunkTopK` / `ChunkTopKWHT`): the flat update in chunks of C = %d values (larger where the per-chunk overhead leaves no room for k ≥ 1 at that ratio: the sketch column of the table of all runs shows C as q=bits/C) (chunktopk-wht: in the orthonormal Walsh–Hadamard basis of each chunk), the top k of every chunk sent as log2 C-bit indices (%d bits) and %d-bit values with one float32 scale per chunk; each worker keeps the error-feedback residual of its own payload (`state.MakeContribution`); Apply adds the decoded sparse vectors in block order. Best GlobalLR of %s (the residual keeps the error in delta units, so GlobalLR acts as an outer step size). Value bits and chunk size come from the sweep at 146× in compression-sweep.md.",
		o.chunk, bitsOf(o.chunk), o.vbits, joinLRs(o.chunkLRs))
	if o.efDecay > 0 {
		fmt.Fprintf(&b, " Residuals shrink by %g per round (leaky error feedback).", o.efDecay)
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "Dense baseline: validation loss **%.4f** (initial %.4f, GlobalLR %g).\n\n", dense.final, first(dense.val), dense.globalLR)
	b.WriteString("## Results\n\n| family |")
	for _, c := range o.ratios {
		fmt.Fprintf(&b, " %d× |", c)
	}
	b.WriteString("\n|---|")
	for range o.ratios {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, fam := range o.families {
		fmt.Fprintf(&b, "| %s |", fam)
		for _, c := range o.ratios {
			r, ok := best[fmt.Sprintf("%s/%d", fam, c)]
			switch {
			case !ok:
				b.WriteString(" – |")
			case r.skip != "":
				b.WriteString(" skipped (O(m·d)) |")
			case r.err != nil:
				fmt.Fprintf(&b, " failed (%s) |", shortErr(r.err))
			default:
				fmt.Fprintf(&b, " %.4f (%+.1f%%, lr %.3g) |", r.final, 100*(r.final/dense.final-1), r.globalLR)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nCells: validation loss after the rounds (difference to dense, GlobalLR used).\n\n")
	b.WriteString("![validation loss against compression](compression.svg)\n\n")
	b.WriteString("## Against the goal: at ≥ 146× compression, validation loss within 2% of dense\n\n")
	hi, ok := bestAbove(best, 146)
	switch {
	case !ok:
		b.WriteString("- no successful run at ≥ 146×.\n")
	case hi.final <= dense.final*1.02:
		fmt.Fprintf(&b, "- seed %d: **met** by %s at %d× (%.1f× in bytes): %.4f vs dense %.4f (%+.1f%%).\n", o.seed, hi.family, hi.ratio, hi.byteRatio(d), hi.final, dense.final, 100*(hi.final/dense.final-1))
	default:
		fmt.Fprintf(&b, "- seed %d: **not met**. Best at ≥ 146×: %s at %d× (%.1f× in bytes), %.4f = %+.1f%% vs dense %.4f.\n", o.seed, hi.family, hi.ratio, hi.byteRatio(d), hi.final, 100*(hi.final/dense.final-1), dense.final)
	}
	if ok && len(seedRuns) > 0 {
		dv, hv := []float64{dense.final}, []float64{hi.final}
		for i := 0; i+1 < len(seedRuns); i += 2 {
			dv, hv = append(dv, seedRuns[i].final), append(hv, seedRuns[i+1].final)
		}
		dm, dlo, dhi := meanSpread(dv)
		hm, hlo, hhi := meanSpread(hv)
		fmt.Fprintf(&b, "- over seeds %d,%s (data order, keys, sketch seeds): dense %.4f (%.4f–%.4f), %s at %d× %.4f (%.4f–%.4f): **%+.1f%%** on the means; the seed-to-seed spread of one configuration is about %.1f%% of the loss.\n",
			o.seed, joinU64(o.goalSeeds), dm, dlo, dhi, hi.family, hi.ratio, hm, hlo, hhi, 100*(hm/dm-1), 100*math.Max(dhi-dlo, hhi-hlo)/dm)
		if hm <= dm*1.02 {
			b.WriteString("- On the seed means the goal is **met**.\n")
		} else {
			b.WriteString("- On the seed means the goal is **not met**.\n")
		}
	}
	b.WriteString("\n## All runs\n\n| family | ratio | bytes ratio | sketch | GlobalLR | pre-top-k | seed | final val loss | time |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range append(append([]result(nil), all...), seedRuns...) {
		status := fmt.Sprintf("%.4f", r.final)
		switch {
		case r.skip != "":
			status = r.skip
		case r.err != nil:
			status = "failed: " + shortErr(r.err)
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %v | %.4g | %d | %d | %s | %v |\n", r.family, r.ratio, r.byteRatio(d), r.cfg, r.globalLR, r.pre, r.seed, status, r.elapsed.Round(time.Second))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func bitsOf(c int) int {
	n := 0
	for 1<<uint(n) < c {
		n++
	}
	return n
}

func first(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return v[0]
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func joinU64(v []uint64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, ",")
}

func joinLRs(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', 4, 32)
	}
	return strings.Join(s, ",")
}
