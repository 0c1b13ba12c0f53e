package state

import (
	"errors"
	"fmt"
	"math"
)

// ModelKind names the model family a network trains.
type ModelKind uint8

const (
	// ModelGPT is the byte-level decoder-only transformer.
	ModelGPT ModelKind = 1
	// ModelSoftmaxRegression is the paper's softmax-attention regression
	// loss, strongly convex through its L2 term; used to check the
	// convergence theorem.
	ModelSoftmaxRegression ModelKind = 2
)

func (k ModelKind) String() string {
	switch k {
	case ModelGPT:
		return "gpt"
	case ModelSoftmaxRegression:
		return "softmax-regression"
	}
	return fmt.Sprintf("model-kind(%d)", uint8(k))
}

// ModelConfig fixes the model shape. It is part of a network's genesis
// parameters: every node derives the same parameter layout from it.
type ModelConfig struct {
	Kind ModelKind

	// GPT shape.
	Vocab   int // 256 for byte-level models
	Context int // maximum sequence length (position embeddings)
	Layers  int
	Width   int // embedding width, divisible by Heads
	Heads   int
	MLPMult int // hidden width of the MLP = MLPMult * Width

	// Softmax regression shape: the parameter is x ∈ R^Dim; the loss sums
	// over Count matrices A_j ∈ R^{Rows×Dim} with targets b_j ∈ R^Rows.
	Dim    int
	Rows   int
	Count  int
	Lambda float32 // L2 weight that makes the loss strongly convex

	// InitStd is the standard deviation of normally initialised weights.
	InitStd float32
}

// MaxParams bounds the parameter count of any model config (1<<31-1 would
// overflow int32 offsets on the GPU; stay well below).
const MaxParams = 1 << 30

// ErrBadModelConfig is returned (wrapped) for a config whose shapes do not fit.
var ErrBadModelConfig = errors.New("bad model config")

func badConfig(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadModelConfig, fmt.Sprintf(format, a...))
}

// Validate checks that the shapes fit together and are within bounds.
func (c ModelConfig) Validate() error {
	switch c.Kind {
	case ModelGPT:
		switch {
		case c.Vocab < 2 || c.Vocab > 1<<16:
			return badConfig("vocab %d out of range [2, 65536]", c.Vocab)
		case c.Context < 1 || c.Context > 1<<16:
			return badConfig("context %d out of range [1, 65536]", c.Context)
		case c.Layers < 1 || c.Layers > 256:
			return badConfig("layers %d out of range [1, 256]", c.Layers)
		case c.Width < 1 || c.Width > 1<<15:
			return badConfig("width %d out of range [1, 32768]", c.Width)
		case c.Heads < 1 || c.Width%c.Heads != 0:
			return badConfig("width %d not divisible by heads %d", c.Width, c.Heads)
		case c.MLPMult < 1 || c.MLPMult > 16:
			return badConfig("mlp multiplier %d out of range [1, 16]", c.MLPMult)
		}
	case ModelSoftmaxRegression:
		switch {
		case c.Dim < 1 || c.Dim > 1<<24:
			return badConfig("dim %d out of range [1, 16777216]", c.Dim)
		case c.Rows < 1 || c.Rows > 1<<16:
			return badConfig("rows %d out of range [1, 65536]", c.Rows)
		case c.Count < 1 || c.Count > 1<<20:
			return badConfig("count %d out of range [1, 1048576]", c.Count)
		case !(c.Lambda > 0) || c.Lambda > 1e6:
			return badConfig("lambda %v must be in (0, 1e6]", c.Lambda)
		}
	default:
		return badConfig("unknown model kind %d", uint8(c.Kind))
	}
	if !(c.InitStd >= 0) || c.InitStd > 10 {
		return badConfig("init std %v must be in [0, 10]", c.InitStd)
	}
	n := c.paramCount()
	if n < 1 || n > MaxParams {
		return badConfig("%d parameters, want 1..%d", n, MaxParams)
	}
	return nil
}

// InitKind says how a tensor's initial values are drawn.
type InitKind uint8

const (
	InitNormal InitKind = iota // N(0, Std²) from the seeded generator
	InitZeros
	InitOnes
)

// Tensor is one named slice of the flat weight vector.
type Tensor struct {
	Name   string
	Shape  []int // row-major
	Offset int   // index of the first element in the flat vector
	Init   InitKind
	Std    float32 // for InitNormal
}

// Size is the number of elements of the tensor.
func (t Tensor) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Layout lists the tensors of the model in the order they are laid out in
// the flat weight vector, and returns the total parameter count. The GPT
// layout (row-major, x·W convention, W of shape [in, out]):
//
//	tok_emb [Vocab, Width]          (also the tied output head)
//	pos_emb [Context, Width]
//	per layer i: h.i.ln1.g [Width], h.i.ln1.b [Width],
//	             h.i.attn.qkv.w [Width, 3·Width], h.i.attn.qkv.b [3·Width],
//	             h.i.attn.proj.w [Width, Width], h.i.attn.proj.b [Width],
//	             h.i.ln2.g [Width], h.i.ln2.b [Width],
//	             h.i.mlp.fc.w [Width, M·Width], h.i.mlp.fc.b [M·Width],
//	             h.i.mlp.proj.w [M·Width, Width], h.i.mlp.proj.b [Width]
//	ln_f.g [Width], ln_f.b [Width]
//
// Residual output projections use Std/sqrt(2·Layers) (GPT-2). The
// softmax-regression layout is a single tensor x [Dim], initialised to zeros.
func (c ModelConfig) Layout() ([]Tensor, int, error) {
	if err := c.Validate(); err != nil {
		return nil, 0, err
	}
	var ts []Tensor
	off := 0
	add := func(name string, init InitKind, std float32, shape ...int) {
		t := Tensor{Name: name, Shape: shape, Offset: off, Init: init, Std: std}
		ts = append(ts, t)
		off += t.Size()
	}
	switch c.Kind {
	case ModelSoftmaxRegression:
		add("x", InitZeros, 0, c.Dim)
	case ModelGPT:
		w, m := c.Width, c.MLPMult*c.Width
		std := c.InitStd
		projStd := std / sqrtf(float32(2*c.Layers))
		add("tok_emb", InitNormal, std, c.Vocab, w)
		add("pos_emb", InitNormal, std, c.Context, w)
		for i := 0; i < c.Layers; i++ {
			p := fmt.Sprintf("h.%d.", i)
			add(p+"ln1.g", InitOnes, 0, w)
			add(p+"ln1.b", InitZeros, 0, w)
			add(p+"attn.qkv.w", InitNormal, std, w, 3*w)
			add(p+"attn.qkv.b", InitZeros, 0, 3*w)
			add(p+"attn.proj.w", InitNormal, projStd, w, w)
			add(p+"attn.proj.b", InitZeros, 0, w)
			add(p+"ln2.g", InitOnes, 0, w)
			add(p+"ln2.b", InitZeros, 0, w)
			add(p+"mlp.fc.w", InitNormal, std, w, m)
			add(p+"mlp.fc.b", InitZeros, 0, m)
			add(p+"mlp.proj.w", InitNormal, projStd, m, w)
			add(p+"mlp.proj.b", InitZeros, 0, w)
		}
		add("ln_f.g", InitOnes, 0, w)
		add("ln_f.b", InitZeros, 0, w)
	}
	return ts, off, nil
}

// ParamCount is the length of the flat weight vector (0 for an invalid config).
func (c ModelConfig) ParamCount() int {
	if c.Validate() != nil {
		return 0
	}
	return c.paramCount()
}

func (c ModelConfig) paramCount() int {
	switch c.Kind {
	case ModelSoftmaxRegression:
		return c.Dim
	case ModelGPT:
		w, m := c.Width, c.MLPMult*c.Width
		perLayer := 4*w + (w*3*w + 3*w) + (w*w + w) + (w*m + m) + (m*w + w)
		return c.Vocab*w + c.Context*w + c.Layers*perLayer + 2*w
	}
	return 0
}

// sqrtf is a correctly rounded square root (IEEE 754 requires it, and Go's
// math.Sqrt provides it on every platform), so layout constants never
// depend on a platform's libm.
func sqrtf(x float32) float32 { return float32(math.Sqrt(float64(x))) }
