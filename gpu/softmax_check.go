package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Checks of the softmax kernels against the references, shared by the
// device self-test (Softmax.SelfTest), the GPU tests and the host emulation
// test: one softmaxCheck draws its inputs from its seed, runs the forward
// and the backward kernel through a softmaxExec (the device or the host
// emulation) on poisoned outputs, and compares with the float64 references.

// softmaxCheck is one check: a shape, the load path (vector: 16-byte
// chunks, which needs Cols a multiple of 16 bytes of elements; otherwise
// the scalar path, with pointers deliberately not 16-byte aligned), a kind
// of kernel (kindAuto: the planned one), in place or not, and the seed of
// its inputs.
type softmaxCheck struct {
	sh      SoftmaxShape
	vector  bool
	force   softmaxKind
	inPlace bool
	seed    uint64
}

func (c softmaxCheck) String() string {
	return fmt.Sprintf("%s/rows=%d/cols=%d/causal=%v/vec=%v/kind=%s/inplace=%v",
		c.sh.Precision, c.sh.Rows, c.sh.Cols, c.sh.Causal, c.vector, c.force, c.inPlace)
}

// softmaxExec runs the kernels of a check on host data: forward returns P
// and the lse from S; backward returns dS from P and dP. Outputs must be
// poisoned before the kernel runs (so that unwritten entries fail).
type softmaxExec interface {
	forward(c softmaxCheck, s []float32) (p, lse []float32, err error)
	backward(c softmaxCheck, p, dp []float32) (ds []float32, err error)
}

// softmaxTolerance bounds ‖got − want‖/‖want‖ and each entry's error
// relative to its row's largest |want|: fp32 arithmetic with the hardware's
// approximate exp2/log2 lands near 1e-6; bf16 outputs are rounded to 8
// significant bits (a relative 2^-9 each).
func softmaxTolerance(p Precision) (norm, elem float64) {
	if p == BF16 {
		return 6e-3, 8e-3
	}
	return 2e-5, 4e-5
}

// softmaxLSETolerance bounds |lse − want| / max(1, |want|).
const softmaxLSETolerance = 1e-5

// runSoftmaxCheck runs one check through x.
func runSoftmaxCheck(x softmaxExec, c softmaxCheck) error {
	sh := c.sh
	r := rand.New(rand.NewPCG(c.seed, 0x736f66746d6178))
	s, p, dp := softmaxInputs(r, sh)
	n := int(sh.Elems())

	gotP, gotLSE, err := x.forward(c, s)
	if err != nil {
		return fmt.Errorf("%v: forward: %w", c, err)
	}
	want := make([]float32, n)
	wantLSE := make([]float32, sh.Rows)
	SoftmaxForwardReference(want, s, wantLSE, sh)
	if err := compareRows(gotP, want, sh, "P", nil); err != nil {
		return fmt.Errorf("%v: forward: %w", c, err)
	}
	for i := range wantLSE {
		d := math.Abs(float64(gotLSE[i]) - float64(wantLSE[i]))
		if !(d <= softmaxLSETolerance*math.Max(1, math.Abs(float64(wantLSE[i])))) {
			return fmt.Errorf("%v: forward: lse[%d] = %v, want %v", c, i, gotLSE[i], wantLSE[i])
		}
	}

	gotDS, err := x.backward(c, p, dp)
	if err != nil {
		return fmt.Errorf("%v: backward: %w", c, err)
	}
	SoftmaxBackwardReference(want, p, dp, sh)
	if err := compareRows(gotDS, want, sh, "dS", backwardMagnitudes(p, dp, sh)); err != nil {
		return fmt.Errorf("%v: backward: %w", c, err)
	}
	return nil
}

// softmaxInputs draws scores S (normal, σ = 4: peaked rows), the reference
// P of them and an incoming gradient dP, each rounded to the precision.
func softmaxInputs(r *rand.Rand, sh SoftmaxShape) (s, p, dp []float32) {
	n := int(sh.Elems())
	s = make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * 4)
	}
	s = roundTo(s, sh.Precision)
	p = make([]float32, n)
	SoftmaxForwardReference(p, s, nil, sh)
	p = roundTo(p, sh.Precision)
	dp = make([]float32, n)
	for i := range dp {
		dp[i] = float32(r.NormFloat64())
	}
	dp = roundTo(dp, sh.Precision)
	return s, p, dp
}

// backwardMagnitudes is, per row, the size of the terms the backward pass
// subtracts: max_j |scale·P_j|·(|dP_j| + |rowsum(dP ⊙ P)|). dS = scale·P ⊙
// (dP − rowsum) cancels when one entry dominates a row, so its rounding
// error scales with these terms, not with dS itself.
func backwardMagnitudes(p, dp []float32, sh SoftmaxShape) []float64 {
	mag := make([]float64, sh.Rows)
	for r := range mag {
		var dot float64
		for j := 0; j < sh.visible(r); j++ {
			dot += float64(p[r*sh.Cols+j]) * float64(dp[r*sh.Cols+j])
		}
		for j := 0; j < sh.visible(r); j++ {
			v := math.Abs(float64(sh.Scale)*float64(p[r*sh.Cols+j])) * (math.Abs(float64(dp[r*sh.Cols+j])) + math.Abs(dot))
			mag[r] = math.Max(mag[r], v)
		}
	}
	return mag
}

// compareRows checks got against want (masked entries exactly 0, no NaN,
// each entry and the whole within softmaxTolerance). Entries are compared
// relative to their row's largest |want|, or to mag[row] where mag is not
// nil and larger.
func compareRows(got, want []float32, sh SoftmaxShape, what string, mag []float64) error {
	normTol, elemTol := softmaxTolerance(sh.Precision)
	var num, den float64
	for r := 0; r < sh.Rows; r++ {
		var rowMax float64
		for j := 0; j < sh.Cols; j++ {
			rowMax = math.Max(rowMax, math.Abs(float64(want[r*sh.Cols+j])))
		}
		if mag != nil {
			rowMax = math.Max(rowMax, mag[r])
		}
		for j := 0; j < sh.Cols; j++ {
			g, w := float64(got[r*sh.Cols+j]), float64(want[r*sh.Cols+j])
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return fmt.Errorf("%s[%d,%d] = %v (want %v): not written?", what, r, j, g, w)
			}
			if j >= sh.visible(r) && g != 0 {
				return fmt.Errorf("%s[%d,%d] = %v in the masked part", what, r, j, g)
			}
			if d := math.Abs(g - w); d > elemTol*rowMax {
				return fmt.Errorf("%s[%d,%d] = %v, want %v (error %.3g, row magnitude %.3g)", what, r, j, g, w, d, rowMax)
			}
			num += (g - w) * (g - w)
			den += w * w
		}
	}
	if den > 0 && math.Sqrt(num/den) > normTol {
		return fmt.Errorf("%s: relative error %.3g > %.3g", what, math.Sqrt(num/den), normTol)
	}
	return nil
}

// roundTo rounds values to the precision.
func roundTo(v []float32, p Precision) []float32 {
	if p != BF16 {
		return v
	}
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = Float32FromBF16(BF16FromFloat32(f))
	}
	return out
}

// encodeElems writes values in the precision's little-endian layout.
func encodeElems(v []float32, p Precision) []byte {
	b := make([]byte, len(v)*p.Size())
	for i, f := range v {
		if p == BF16 {
			binary.LittleEndian.PutUint16(b[2*i:], BF16FromFloat32(f))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
	}
	return b
}

// decodeElems reads n values of the precision.
func decodeElems(b []byte, n int, p Precision) []float32 {
	v := make([]float32, n)
	for i := range v {
		if p == BF16 {
			v[i] = Float32FromBF16(binary.LittleEndian.Uint16(b[2*i:]))
		} else {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return v
}

// poisonBytes is n bytes of NaN (0xff bytes are NaN in fp32 and bf16).
func poisonBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xff
	}
	return b
}

// softmaxSelfTestChecks are the device self-test: every kind of kernel,
// both load paths and precisions, with and without the mask, in place and
// not; small enough to run in milliseconds.
func softmaxSelfTestChecks() []softmaxCheck {
	var cs []softmaxCheck
	for i, prec := range []Precision{F32, BF16} {
		for j, c := range []softmaxCheck{
			{sh: SoftmaxShape{Rows: 13, Cols: 5, Causal: true}, force: kindWarp},
			{sh: SoftmaxShape{Rows: 70, Cols: 64, Causal: true}, vector: true, force: kindWarp, inPlace: true},
			{sh: SoftmaxShape{Rows: 6, Cols: 1000}, force: kindWarp},
			{sh: SoftmaxShape{Rows: 5, Cols: 1024}, vector: true, force: kindWarp},
			{sh: SoftmaxShape{Rows: 4, Cols: 4096, Causal: true}, vector: true, force: kindBlock},
			{sh: SoftmaxShape{Rows: 3, Cols: 3001}, force: kindBlock, inPlace: true},
			{sh: SoftmaxShape{Rows: 3, Cols: 2048}, vector: true, force: kindOnline},
			{sh: SoftmaxShape{Rows: 40, Cols: 37, Causal: true}, force: kindOnline},
		} {
			c.sh.Precision = prec
			c.sh.Scale = 0.125
			c.seed = uint64(100*i + j)
			cs = append(cs, c)
		}
	}
	return cs
}
