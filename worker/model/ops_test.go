package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ---- float64 reference forwards (naive, straight from the definitions) ----

func refLinear(x, w, b []float64, n, k, m int, transW bool) []float64 {
	y := make([]float64, n*m)
	for r := 0; r < n; r++ {
		for c := 0; c < m; c++ {
			var s float64
			if b != nil {
				s = b[c]
			}
			for i := 0; i < k; i++ {
				wv := w[i*m+c]
				if transW {
					wv = w[c*k+i]
				}
				s += x[r*k+i] * wv
			}
			y[r*m+c] = s
		}
	}
	return y
}

func refLayerNorm(x, g, b []float64, rows, cols int) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		var mu, v float64
		for j := 0; j < cols; j++ {
			mu += x[r*cols+j]
		}
		mu /= float64(cols)
		for j := 0; j < cols; j++ {
			d := x[r*cols+j] - mu
			v += d * d
		}
		v /= float64(cols)
		for j := 0; j < cols; j++ {
			y[r*cols+j] = (x[r*cols+j]-mu)/math.Sqrt(v+LayerNormEps)*g[j] + b[j]
		}
	}
	return y
}

func refGELU(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
	}
	return y
}

func refSoftmax(s []float64, rows, cols int, scale float64, causal bool) []float64 {
	p := make([]float64, len(s))
	for r := 0; r < rows; r++ {
		n := cols
		if causal {
			n = r%cols + 1
		}
		var z float64
		for j := 0; j < n; j++ {
			z += math.Exp(scale * s[r*cols+j])
		}
		for j := 0; j < n; j++ {
			p[r*cols+j] = math.Exp(scale*s[r*cols+j]) / z
		}
	}
	return p
}

func qkvAt(qkv []float64, a AttnShape, part, b, t, h, d int) float64 {
	C := a.H * a.D
	return qkv[(b*a.T+t)*3*C+part*C+h*a.D+d]
}

func refScores(qkv []float64, a AttnShape) []float64 {
	s := make([]float64, a.B*a.H*a.T*a.T)
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			for i := 0; i < a.T; i++ {
				for j := 0; j < a.T; j++ {
					if a.Causal && j > i {
						continue
					}
					var acc float64
					for d := 0; d < a.D; d++ {
						acc += qkvAt(qkv, a, 0, b, i, h, d) * qkvAt(qkv, a, 1, b, j, h, d)
					}
					s[((b*a.H+h)*a.T+i)*a.T+j] = acc
				}
			}
		}
	}
	return s
}

func refContext(p, qkv []float64, a AttnShape) []float64 {
	C := a.H * a.D
	y := make([]float64, a.B*a.T*C)
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			for i := 0; i < a.T; i++ {
				for d := 0; d < a.D; d++ {
					var acc float64
					for j := 0; j < a.T; j++ {
						if a.Causal && j > i {
							continue
						}
						acc += p[((b*a.H+h)*a.T+i)*a.T+j] * qkvAt(qkv, a, 2, b, j, h, d)
					}
					y[(b*a.T+i)*C+h*a.D+d] = acc
				}
			}
		}
	}
	return y
}

func refEmbed(tok, pos []float64, ids []float64, T, C int) []float64 {
	y := make([]float64, len(ids)*C)
	for n, id := range ids {
		for j := 0; j < C; j++ {
			y[n*C+j] = tok[int(id)*C+j] + pos[(n%T)*C+j]
		}
	}
	return y
}

func refXent(logits, targets []float64, n, v int) []float64 {
	var s float64
	cnt := 0
	for r := 0; r < n; r++ {
		t := int(targets[r])
		if targets[r] < 0 {
			continue
		}
		var z float64
		for j := 0; j < v; j++ {
			z += math.Exp(logits[r*v+j])
		}
		s += math.Log(z) - logits[r*v+t]
		cnt++
	}
	return []float64{s / float64(cnt)}
}

// ---- harness ----

type opInput struct {
	shape []int
	data  []float32 // nil: random normal
	diff  bool
}

type opCase struct {
	name   string
	inputs []opInput
	build  func(in []*G.Node) (*G.Node, error)
	ref    func(in [][]float64) []float64
	tol    float64
}

func to64(f []float32) []float64 {
	d := make([]float64, len(f))
	for i, v := range f {
		d[i] = float64(v)
	}
	return d
}

func newNode(g *G.ExprGraph, name string, shape []int, data []float32) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

func maxRelErr(got []float32, want []float64) float64 {
	var scale, e float64 = 1, 0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i, w := range want {
		e = math.Max(e, math.Abs(float64(got[i])-w))
	}
	return e / scale
}

func runOpCase(t *testing.T, c opCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(len(c.name))))
	g := G.NewGraph()
	nodes := make([]*G.Node, len(c.inputs))
	datas := make([][]float32, len(c.inputs))
	var wrt []*G.Node
	var wrtIdx []int
	for i, in := range c.inputs {
		size := 1
		for _, d := range in.shape {
			size *= d
		}
		d := in.data
		if d == nil {
			d = make([]float32, size)
			for j := range d {
				d[j] = float32(rng.NormFloat64())
			}
		}
		datas[i] = d
		nodes[i] = newNode(g, fmt.Sprintf("in%d", i), in.shape, d)
		if in.diff {
			wrt = append(wrt, nodes[i])
			wrtIdx = append(wrtIdx, i)
		}
	}
	y, err := c.build(nodes)
	if err != nil {
		t.Fatalf("%s: build: %v", c.name, err)
	}
	// loss = Σ R ⊙ y with a fixed random R (or y itself for a scalar).
	var rw []float32
	loss := y
	if !y.IsScalar() {
		rw = make([]float32, y.Shape().TotalSize())
		for j := range rw {
			rw[j] = float32(rng.NormFloat64())
		}
		r := G.NewConstant(tensor.New(tensor.WithShape(y.Shape().Clone()...), tensor.WithBacking(rw)))
		loss = G.Must(G.Sum(G.Must(G.HadamardProd(y, r))))
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		t.Fatalf("%s: grad: %v", c.name, err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	// Run twice: the second run must see the same values (the machine is
	// reused across steps in training).
	for run := 0; run < 2; run++ {
		if err := vm.RunAll(); err != nil {
			t.Fatalf("%s: run %d: %v", c.name, run, err)
		}
		in64 := make([][]float64, len(datas))
		for i, d := range datas {
			in64[i] = to64(d)
		}
		wantY := c.ref(in64)
		var gotY []float32
		if y.IsScalar() {
			gotY = []float32{float32(*y.Value().(*G.F32))}
		} else {
			gotY = y.Value().Data().([]float32)
		}
		if e := maxRelErr(gotY, wantY); e > 1e-5 {
			t.Errorf("%s: run %d: forward differs from float64 reference by %.3g", c.name, run, e)
		}
		obj := func(in [][]float64) float64 {
			out := c.ref(in)
			if rw == nil {
				return out[0]
			}
			var s float64
			for j, v := range out {
				s += float64(rw[j]) * v
			}
			return s
		}
		for gi, i := range wrtIdx {
			want := make([]float64, len(datas[i]))
			const eps = 1e-6
			for j := range want {
				orig := in64[i][j]
				in64[i][j] = orig + eps
				fp := obj(in64)
				in64[i][j] = orig - eps
				fm := obj(in64)
				in64[i][j] = orig
				want[j] = (fp - fm) / (2 * eps)
			}
			got := grads[gi].Value().Data().([]float32)
			tol := c.tol
			if tol == 0 {
				tol = 1e-4
			}
			if e := maxRelErr(got, want); e > tol {
				t.Errorf("%s: run %d: gradient of input %d differs from finite differences by %.3g (tol %.1g)", c.name, run, i, e, tol)
			}
		}
		vm.Reset()
	}
}

func attnCase(name string, a AttnShape) opCase {
	C := a.H * a.D
	return opCase{
		name:   name,
		inputs: []opInput{{shape: []int{a.B * a.T, 3 * C}, diff: true}},
		build: func(in []*G.Node) (*G.Node, error) {
			s, err := AttnScoresNode(in[0], a)
			if err != nil {
				return nil, err
			}
			p, err := AttnSoftmaxNode(s, 0.5, a.Causal)
			if err != nil {
				return nil, err
			}
			return AttnContextNode(p, in[0], a)
		},
		ref: func(in [][]float64) []float64 {
			s := refScores(in[0], a)
			p := refSoftmax(s, a.B*a.H*a.T, a.T, 0.5, a.Causal)
			return refContext(p, in[0], a)
		},
	}
}

func TestOperatorGradients(t *testing.T) {
	a := AttnShape{B: 2, T: 4, H: 2, D: 3, Causal: true}
	ids := []float32{0, 3, 4, 1, 1, 2, 0, 4} // 2 sequences of T=4 over a vocab of 5
	targets := []float32{1, -1, 4, 0, 2, 2, -1, 3}
	cases := []opCase{
		{
			name:   "linear",
			inputs: []opInput{{shape: []int{5, 4}, diff: true}, {shape: []int{4, 3}, diff: true}, {shape: []int{3}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return LinearNode(in[0], in[1], in[2], false) },
			ref:    func(in [][]float64) []float64 { return refLinear(in[0], in[1], in[2], 5, 4, 3, false) },
		},
		{
			name:   "linear/transW-no-bias",
			inputs: []opInput{{shape: []int{5, 4}, diff: true}, {shape: []int{6, 4}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return LinearNode(in[0], in[1], nil, true) },
			ref:    func(in [][]float64) []float64 { return refLinear(in[0], in[1], nil, 5, 4, 6, true) },
		},
		{
			name:   "layernorm",
			inputs: []opInput{{shape: []int{3, 7}, diff: true}, {shape: []int{7}, diff: true}, {shape: []int{7}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return LayerNormNode(in[0], in[1], in[2]) },
			ref:    func(in [][]float64) []float64 { return refLayerNorm(in[0], in[1], in[2], 3, 7) },
			tol:    3e-4,
		},
		{
			name:   "gelu",
			inputs: []opInput{{shape: []int{4, 5}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return GELUNode(in[0]) },
			ref:    func(in [][]float64) []float64 { return refGELU(in[0]) },
		},
		{
			name:   "softmax/causal",
			inputs: []opInput{{shape: []int{3, 5, 5}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return AttnSoftmaxNode(in[0], 0.7, true) },
			ref:    func(in [][]float64) []float64 { return refSoftmax(in[0], 15, 5, 0.7, true) },
		},
		{
			name:   "softmax/full",
			inputs: []opInput{{shape: []int{2, 3, 6}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return AttnSoftmaxNode(in[0], 1.3, false) },
			ref:    func(in [][]float64) []float64 { return refSoftmax(in[0], 6, 6, 1.3, false) },
		},
		{
			name:   "attn-scores",
			inputs: []opInput{{shape: []int{a.B * a.T, 3 * a.H * a.D}, diff: true}},
			build:  func(in []*G.Node) (*G.Node, error) { return AttnScoresNode(in[0], a) },
			ref:    func(in [][]float64) []float64 { return refScores(in[0], a) },
		},
		{
			name: "attn-context",
			inputs: []opInput{
				{shape: []int{a.B * a.H, a.T, a.T}, diff: true},
				{shape: []int{a.B * a.T, 3 * a.H * a.D}, diff: true},
			},
			build: func(in []*G.Node) (*G.Node, error) { return AttnContextNode(in[0], in[1], a) },
			ref:   func(in [][]float64) []float64 { return refContext(in[0], in[1], a) },
		},
		attnCase("attention/causal", a),
		attnCase("attention/full", AttnShape{B: 1, T: 3, H: 3, D: 2}),
		{
			name: "embed",
			inputs: []opInput{
				{shape: []int{5, 3}, diff: true},
				{shape: []int{6, 3}, diff: true},
				{shape: []int{8}, data: ids},
			},
			build: func(in []*G.Node) (*G.Node, error) { return EmbedNode(in[0], in[1], in[2], 4) },
			ref:   func(in [][]float64) []float64 { return refEmbed(in[0], in[1], in[2], 4, 3) },
		},
		{
			name:   "cross-entropy/ignored-rows",
			inputs: []opInput{{shape: []int{8, 5}, diff: true}, {shape: []int{8}, data: targets}},
			build:  func(in []*G.Node) (*G.Node, error) { return CrossEntropyNode(in[0], in[1]) },
			ref:    func(in [][]float64) []float64 { return refXent(in[0], in[1], 8, 5) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runOpCase(t, c) })
	}
}

func TestSoftmaxKernelLSE(t *testing.T) {
	cases := []struct {
		name   string
		rows   int
		cols   int
		scale  float32
		causal bool
	}{
		{"causal-4x4", 8, 4, 0.5, true},
		{"full-3x7", 3, 7, 2, false},
		{"single-col", 5, 1, 1, true},
	}
	for _, c := range cases {
		rng := rand.New(rand.NewPCG(7, uint64(c.rows)))
		src := make([]float32, c.rows*c.cols)
		for i := range src {
			src[i] = float32(rng.NormFloat64() * 3)
		}
		dst := make([]float32, len(src))
		lse := make([]float32, c.rows)
		SoftmaxForward(dst, src, c.rows, c.cols, c.scale, c.causal, lse)
		want := refSoftmax(to64(src), c.rows, c.cols, float64(c.scale), c.causal)
		if e := maxRelErr(dst, want); e > 1e-6 {
			t.Errorf("%s: softmax differs from reference by %.3g", c.name, e)
		}
		for r := 0; r < c.rows; r++ {
			n := causalLen(r, c.cols, c.causal)
			for j := 0; j < n; j++ {
				p := math.Exp(float64(c.scale*src[r*c.cols+j]) - float64(lse[r]))
				if math.Abs(p-float64(dst[r*c.cols+j])) > 1e-5 {
					t.Fatalf("%s: row %d col %d: exp(scale·s − lse) = %v, P = %v", c.name, r, j, p, dst[r*c.cols+j])
				}
			}
		}
		// in place
		cp := append([]float32(nil), src...)
		SoftmaxForward(cp, cp, c.rows, c.cols, c.scale, c.causal, nil)
		for i := range cp {
			if cp[i] != dst[i] {
				t.Fatalf("%s: in-place softmax differs at %d", c.name, i)
			}
		}
	}
}

func TestOpShapeErrors(t *testing.T) {
	g := G.NewGraph()
	x := newNode(g, "x", []int{4, 3}, make([]float32, 12))
	w := newNode(g, "w", []int{5, 2}, make([]float32, 10))
	v := newNode(g, "v", []int{7}, make([]float32, 7))
	a := AttnShape{B: 1, T: 4, H: 1, D: 2, Causal: true}
	cases := []struct {
		name string
		f    func() (*G.Node, error)
	}{
		{"linear-inner-mismatch", func() (*G.Node, error) { return LinearNode(x, w, nil, false) }},
		{"linear-bias-mismatch", func() (*G.Node, error) {
			return LinearNode(x, newNode(g, "w3", []int{3, 2}, make([]float32, 6)), v, false)
		}},
		{"layernorm-gain-mismatch", func() (*G.Node, error) { return LayerNormNode(x, v, v) }},
		{"attn-bad-qkv", func() (*G.Node, error) { return AttnScoresNode(x, a) }},
		{"nil-node", func() (*G.Node, error) { return GELUNode(nil) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panicked: %v", c.name, r)
				}
			}()
			if _, err := c.f(); err == nil {
				t.Errorf("%s: no error", c.name)
			}
		}()
	}
}
