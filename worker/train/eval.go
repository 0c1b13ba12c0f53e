package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
)

// EvalLoss returns the mean loss of w over batches (each the model's batch
// shape), e.g. data.Windows of a validation stream.
func EvalLoss(m *model.GPT, w []float32, batches []data.Batch) (float64, error) {
	return EvalLossContext(context.Background(), m, w, batches)
}

// EvalLossContext is EvalLoss that stops once ctx is done (between
// batches and between the model's operators) and then returns an error
// matching ctx.Err().
func EvalLossContext(ctx context.Context, m *model.GPT, w []float32, batches []data.Batch) (float64, error) {
	if len(batches) == 0 {
		return 0, fmt.Errorf("%w: no evaluation batches", ErrBadConfig)
	}
	var sum float64
	for i, b := range batches {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("evaluation batch %d: %w", i, err)
		}
		l, _, err := m.ForwardContext(ctx, w, b.Inputs, b.Targets)
		if err != nil {
			return 0, fmt.Errorf("evaluation batch %d: %w", i, err)
		}
		sum += float64(l)
	}
	return sum / float64(len(batches)), nil
}

// Accuracy is an exact-match result: the share of problems whose whole
// answer the model predicts (greedy, teacher-forced: every answer byte is
// the argmax of the model given the prompt and the preceding answer
// bytes, which is exactly when greedy decoding reproduces the answer).
type Accuracy struct {
	Correct, Total int
	ByTask         map[string][2]int // task → {correct, total}
}

// Rate is Correct/Total (0 when empty).
func (a Accuracy) Rate() float64 {
	if a.Total == 0 {
		return 0
	}
	return float64(a.Correct) / float64(a.Total)
}

// String formats the overall and per-task rates, tasks in name order.
func (a Accuracy) String() string {
	s := fmt.Sprintf("%.1f%% (%d/%d)", 100*a.Rate(), a.Correct, a.Total)
	tasks := make([]string, 0, len(a.ByTask))
	for k := range a.ByTask {
		tasks = append(tasks, k)
	}
	sort.Strings(tasks)
	for _, k := range tasks {
		v := a.ByTask[k]
		s += fmt.Sprintf(" %s %d/%d", k, v[0], v[1])
	}
	return s
}

type placed struct {
	p        data.Problem
	row, pos int // problem starts at byte pos of row
}

// ExactMatch evaluates problems with the model (any batch shape; rows are
// packed with consecutive problems). At most maxProblems are used (≤ 0:
// all).
func ExactMatch(m *model.GPT, w []float32, problems []data.Problem, maxProblems int) (Accuracy, error) {
	if maxProblems > 0 && len(problems) > maxProblems {
		problems = problems[:maxProblems]
	}
	acc := Accuracy{ByTask: map[string][2]int{}}
	B, T := m.Batch()
	V := m.Config().Vocab
	in := make([]int32, B*T)
	tg := make([]int32, B*T)
	var batch []placed
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		for i := range in {
			in[i], tg[i] = '\n', -1
		}
		for _, pl := range batch {
			text := pl.p.Text()
			for k := 0; k < len(text); k++ {
				if pos := pl.pos + k; pos < T {
					in[pl.row*T+pos] = int32(text[k])
				}
				if k >= len(pl.p.Prompt) {
					tg[pl.row*T+pl.pos+k-1] = int32(text[k])
				}
			}
		}
		_, logits, err := m.Forward(w, in, tg)
		if err != nil {
			return err
		}
		for _, pl := range batch {
			ok := true
			text := pl.p.Text()
			for k := len(pl.p.Prompt); k < len(text) && ok; k++ {
				r := pl.row*T + pl.pos + k - 1
				if argmax(logits[r*V:(r+1)*V]) != int(text[k]) {
					ok = false
				}
			}
			task := data.TaskOf(pl.p)
			c := acc.ByTask[task]
			c[1]++
			acc.Total++
			if ok {
				c[0]++
				acc.Correct++
			}
			acc.ByTask[task] = c
		}
		batch = batch[:0]
		return nil
	}
	row, pos := 0, 0
	for _, p := range problems {
		n := len(p.Text())
		if n > T+1 || len(p.Prompt) == 0 || n == len(p.Prompt) {
			return acc, fmt.Errorf("%w: problem %q does not fit a sequence of %d (or has an empty prompt or answer)", ErrBadConfig, p.Text(), T)
		}
		if pos+n > T+1 {
			row, pos = row+1, 0
			if row == B {
				if err := flush(); err != nil {
					return acc, err
				}
				row = 0
			}
		}
		batch = append(batch, placed{p: p, row: row, pos: pos})
		pos += n
	}
	if err := flush(); err != nil {
		return acc, err
	}
	return acc, nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// SampleConfig controls text generation. Temperature ≤ 0 means greedy
// decoding; TopK > 0 keeps only the TopK most likely bytes; Seed fixes the
// random draws.
type SampleConfig struct {
	Temperature float32
	TopK        int
	Seed        uint64
}

// Generate continues prompt by n bytes with a model built for batch 1
// (any sequence length; the last seq bytes are its context).
func Generate(m *model.GPT, w []float32, prompt []byte, n int, cfg SampleConfig) ([]byte, error) {
	B, T := m.Batch()
	if B != 1 {
		return nil, fmt.Errorf("%w: generation needs a model of batch 1, got %d", ErrBadConfig, B)
	}
	if n < 0 || cfg.TopK < 0 || math.IsNaN(float64(cfg.Temperature)) || math.IsInf(float64(cfg.Temperature), 0) {
		return nil, fmt.Errorf("%w: n %d, top-k %d, temperature %v", ErrBadConfig, n, cfg.TopK, cfg.Temperature)
	}
	if len(prompt) == 0 {
		prompt = []byte{'\n'}
	}
	V := m.Config().Vocab
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x73616d706c65))
	ctx := append([]byte(nil), prompt...)
	in := make([]int32, T)
	probs := make([]float64, V)
	idx := make([]int, V)
	out := make([]byte, 0, n)
	for len(out) < n {
		win := ctx
		if len(win) > T {
			win = win[len(win)-T:]
		}
		for i := range in {
			in[i] = 0
			if i < len(win) {
				in[i] = int32(win[i])
			}
		}
		_, logits, err := m.Forward(w, in, nil)
		if err != nil {
			return out, err
		}
		row := logits[(len(win)-1)*V : len(win)*V]
		var next int
		if cfg.Temperature <= 0 {
			next = argmax(row)
		} else {
			next = sampleLogits(row, cfg.Temperature, cfg.TopK, rng, probs, idx)
		}
		ctx = append(ctx, byte(next))
		out = append(out, byte(next))
	}
	return out, nil
}

// sampleLogits draws an index from softmax(logits/temperature) restricted
// to the topK largest logits (topK ≤ 0: all).
func sampleLogits(logits []float32, temperature float32, topK int, rng *rand.Rand, probs []float64, idx []int) int {
	for i := range idx {
		idx[i] = i
	}
	if topK > 0 && topK < len(logits) {
		// stable sort by logit descending; ties keep the lower index first
		sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
		idx = idx[:topK]
	}
	m := math.Inf(-1)
	for _, i := range idx {
		m = math.Max(m, float64(logits[i]))
	}
	var z float64
	for k, i := range idx {
		probs[k] = math.Exp((float64(logits[i]) - m) / float64(temperature))
		z += probs[k]
	}
	u := rng.Float64() * z
	for k, i := range idx {
		u -= probs[k]
		if u < 0 {
			return i
		}
	}
	return idx[len(idx)-1]
}
