package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Checks of the fused attention against the float64 references, shared by
// Attention.SelfTest, the GPU tests and the host emulation test: a check
// draws inputs from its seed, runs attention programs through an attnExec
// (device or emulation) on a poisoned scratch buffer, and compares.

// attnExec runs a program: the scratch buffer is filled with 0xff (NaN in
// fp32 and bf16), the inputs are written at their buffers, the steps run in
// order, and the named outputs are read back.
type attnExec interface {
	runProgram(pr *attnProgram, steps []int, inputs map[string][]byte, outputs []string) (map[string][]byte, error)
}

// attnCheck is one check: a shape, the layout (packed: the model's path,
// with its fp32 conversions; else dense [B,H,T,D] tensors with O in fp32 or
// bf16), and the seed of its inputs.
type attnCheck struct {
	sh     AttnShape
	packed bool
	outF32 bool
	seed   uint64
}

func (c attnCheck) String() string {
	layout := "dense-o16"
	switch {
	case c.packed:
		layout = "packed"
	case c.outF32:
		layout = "dense-o32"
	}
	return fmt.Sprintf("b=%d/h=%d/t=%d/d=%d/causal=%v/%s", c.sh.B, c.sh.H, c.sh.T, c.sh.D, c.sh.Causal, layout)
}

// Tolerances, ‖got − ref‖/‖ref‖ over a whole output and each entry against
// its row's largest |ref| (rows of D): bf16 operands (Q, K, V, dO, and P, dS
// rounded to bf16 before their products) with fp32 accumulation land near
// 3e-3 in norm; single entries of the gradients, sums of a few terms on the
// first causal rows, can cancel down to a few percent of their row. A
// wrong tile or fragment is off by ~100%. The lse comes from fp32 scores.
const (
	attnNormTol = 1e-2
	attnElemTol = 5e-2
	attnLSETol  = 1e-4
)

// attnInputs draws q, k, v, do (dense, normal with σ = 1, rounded to bf16)
// for a shape.
func attnInputs(r *rand.Rand, sh AttnShape) (q, k, v, do []float32) {
	n := int(sh.rows()) * sh.D
	draw := func(sigma float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = Float32FromBF16(BF16FromFloat32(float32(r.NormFloat64() * sigma)))
		}
		return x
	}
	// σ_q·σ_k·√D·scale ≈ 2: peaked but not one-hot attention rows.
	return draw(1.4), draw(1.4), draw(1), draw(1)
}

// packQKV lays dense q, k, v out as the model's (B·T) × 3C matrix, and
// unpackQKV does the reverse; packY / unpackY for the (B·T) × C matrices.
func packQKV(q, k, v []float32, sh AttnShape) []float32 {
	c := sh.H * sh.D
	out := make([]float32, sh.B*sh.T*3*c)
	for b := 0; b < sh.B; b++ {
		for h := 0; h < sh.H; h++ {
			for t := 0; t < sh.T; t++ {
				src := ((b*sh.H+h)*sh.T + t) * sh.D
				dst := (b*sh.T+t)*3*c + h*sh.D
				copy(out[dst:dst+sh.D], q[src:src+sh.D])
				copy(out[dst+c:dst+c+sh.D], k[src:src+sh.D])
				copy(out[dst+2*c:dst+2*c+sh.D], v[src:src+sh.D])
			}
		}
	}
	return out
}

func unpackQKV(qkv []float32, sh AttnShape) (q, k, v []float32) {
	c := sh.H * sh.D
	n := int(sh.rows()) * sh.D
	q, k, v = make([]float32, n), make([]float32, n), make([]float32, n)
	for b := 0; b < sh.B; b++ {
		for h := 0; h < sh.H; h++ {
			for t := 0; t < sh.T; t++ {
				dst := ((b*sh.H+h)*sh.T + t) * sh.D
				src := (b*sh.T+t)*3*c + h*sh.D
				copy(q[dst:dst+sh.D], qkv[src:src+sh.D])
				copy(k[dst:dst+sh.D], qkv[src+c:src+c+sh.D])
				copy(v[dst:dst+sh.D], qkv[src+2*c:src+2*c+sh.D])
			}
		}
	}
	return q, k, v
}

func packY(y []float32, sh AttnShape) []float32 {
	c := sh.H * sh.D
	out := make([]float32, sh.B*sh.T*c)
	for b := 0; b < sh.B; b++ {
		for h := 0; h < sh.H; h++ {
			for t := 0; t < sh.T; t++ {
				src := ((b*sh.H+h)*sh.T + t) * sh.D
				dst := (b*sh.T+t)*c + h*sh.D
				copy(out[dst:dst+sh.D], y[src:src+sh.D])
			}
		}
	}
	return out
}

func unpackY(y []float32, sh AttnShape) []float32 {
	c := sh.H * sh.D
	out := make([]float32, int(sh.rows())*sh.D)
	for b := 0; b < sh.B; b++ {
		for h := 0; h < sh.H; h++ {
			for t := 0; t < sh.T; t++ {
				dst := ((b*sh.H+h)*sh.T + t) * sh.D
				src := (b*sh.T+t)*c + h*sh.D
				copy(out[dst:dst+sh.D], y[src:src+sh.D])
			}
		}
	}
	return out
}

func f32Encode(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// compareAttn checks got against want, rows of D entries.
func compareAttn(got, want []float32, d int, what string) error {
	var num, den float64
	for r := 0; r < len(want)/d; r++ {
		var rowMax float64
		for j := 0; j < d; j++ {
			rowMax = math.Max(rowMax, math.Abs(float64(want[r*d+j])))
		}
		for j := 0; j < d; j++ {
			g, w := float64(got[r*d+j]), float64(want[r*d+j])
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return fmt.Errorf("%s[%d,%d] = %v (want %v): not written?", what, r, j, g, w)
			}
			if diff := math.Abs(g - w); diff > attnElemTol*rowMax+1e-6 {
				return fmt.Errorf("%s[%d,%d] = %v, want %v (error %.3g, row max %.3g)", what, r, j, g, w, diff, rowMax)
			}
			num += (g - w) * (g - w)
			den += w * w
		}
	}
	if den > 0 && math.Sqrt(num/den) > attnNormTol {
		return fmt.Errorf("%s: relative error %.3g > %.3g", what, math.Sqrt(num/den), attnNormTol)
	}
	return nil
}

// runAttnCheck runs one check through x: forward (O, lse) against the
// float64 reference, and backward (dQ, dK, dV) against the float64
// reference given the O the kernels stored (their row sums rowsum(dO ⊙ O)
// use it: with O in bf16 that rounding alone moves single gradient entries
// by a few percent where dP − rowsum cancels).
func runAttnCheck(x attnExec, c attnCheck) error {
	sh := c.sh
	r := rand.New(rand.NewPCG(c.seed, 0x61747465))
	q, k, v, do := attnInputs(r, sh)
	n := int(sh.rows()) * sh.D
	wantO := make([]float32, n)
	wantLSE := make([]float32, sh.rows())
	AttentionForwardReference(wantO, wantLSE, q, k, v, sh)

	var gotO, gotLSE, storedO, gotDQ, gotDK, gotDV []float32
	if c.packed {
		qkv := f32Encode(packQKV(q, k, v, sh))
		out, err := x.runProgram(attnPackedForward(sh), nil, map[string][]byte{"qkv32": qkv}, []string{"y", "lse"})
		if err != nil {
			return fmt.Errorf("%v: forward: %w", c, err)
		}
		gotO = unpackY(decodeElems(out["y"], n, F32), sh)
		gotLSE = decodeElems(out["lse"], int(sh.rows()), F32)
		out, err = x.runProgram(attnPackedBackward(sh), nil,
			map[string][]byte{"qkv32": qkv, "dy32": f32Encode(packY(do, sh))}, []string{"dqkv32", "y"})
		if err != nil {
			return fmt.Errorf("%v: backward: %w", c, err)
		}
		gotDQ, gotDK, gotDV = unpackQKV(decodeElems(out["dqkv32"], 3*n, F32), sh)
		storedO = unpackY(decodeElems(out["y"], n, F32), sh)
	} else {
		pr := attnDenseProgram(sh, c.outF32)
		in := map[string][]byte{
			"q": encodeElems(q, BF16), "k": encodeElems(k, BF16), "v": encodeElems(v, BF16), "dout": encodeElems(do, BF16),
		}
		out, err := x.runProgram(pr, nil, in, []string{"o", "lse", "dq", "dk", "dv"})
		if err != nil {
			return fmt.Errorf("%v: %w", c, err)
		}
		op := BF16
		if c.outF32 {
			op = F32
		}
		gotO = decodeElems(out["o"], n, op)
		storedO = gotO
		gotLSE = decodeElems(out["lse"], int(sh.rows()), F32)
		gotDQ = decodeElems(out["dq"], n, F32)
		gotDK = decodeElems(out["dk"], n, F32)
		gotDV = decodeElems(out["dv"], n, F32)
	}
	if err := compareAttn(gotO, wantO, sh.D, "O"); err != nil {
		return fmt.Errorf("%v: forward: %w", c, err)
	}
	for i := range wantLSE {
		d := math.Abs(float64(gotLSE[i]) - float64(wantLSE[i]))
		if !(d <= attnLSETol*math.Max(1, math.Abs(float64(wantLSE[i])))) {
			return fmt.Errorf("%v: forward: lse[%d] = %v, want %v", c, i, gotLSE[i], wantLSE[i])
		}
	}
	for _, o := range storedO {
		if math.IsNaN(float64(o)) || math.IsInf(float64(o), 0) {
			return fmt.Errorf("%v: backward: stored O has %v", c, o)
		}
	}
	wantDQ, wantDK, wantDV := make([]float32, n), make([]float32, n), make([]float32, n)
	attentionBackwardRef(wantDQ, wantDK, wantDV, q, k, v, do, sh, storedO)
	for _, g := range []struct {
		name      string
		got, want []float32
	}{{"dQ", gotDQ, wantDQ}, {"dK", gotDK, wantDK}, {"dV", gotDV, wantDV}} {
		if err := compareAttn(g.got, g.want, sh.D, g.name); err != nil {
			return fmt.Errorf("%v: backward: %w", c, err)
		}
	}
	return nil
}

// attnSelfTestChecks are the device self-test: every head width, both
// masks, both layouts, several query and key tiles.
func attnSelfTestChecks() []attnCheck {
	var cs []attnCheck
	for i, d := range []int{32, 64, 128} {
		for j, causal := range []bool{false, true} {
			sh := AttnShape{B: 1 + j, H: 2, T: 128 + 64*i, D: d, Causal: causal}
			sh.Scale = float32(1 / math.Sqrt(float64(d)))
			cs = append(cs, attnCheck{sh: sh, packed: (i+j)%2 == 0, outF32: i == 1, seed: uint64(10*i + j)})
		}
	}
	return cs
}
