package model

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// This file holds the pure-Go kernels behind the graph operators. Each is a
// plain function over flat row-major float32 slices so that a GPU version
// can mirror its signature and semantics exactly. None of them allocate.

var blas32 gonum.Implementation

// expf and logf are float32 wrappers over the correctly rounded-enough
// float64 versions. The model is worker-private math, not consensus, so
// libm differences are acceptable here.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }
func logf(x float32) float32 { return float32(math.Log(float64(x))) }

// causalLen is the number of visible columns of row r of a causal square
// attention matrix with cols columns.
func causalLen(r, cols int, causal bool) int {
	if !causal {
		return cols
	}
	return r%cols + 1
}

// SoftmaxForward computes the scaled row softmax dst = softmax(scale·src)
// of a rows×cols matrix. With causal set, rows are grouped in square
// cols×cols matrices (one per batch·head): row r is query position
// q = r mod cols and columns k > q are masked (their dst entries are 0).
// If lse is not nil (len rows) it receives the log-sum-exp of each row's
// scaled visible entries, which lets a backward pass recompute the
// probabilities from src. dst and src may alias.
func SoftmaxForward(dst, src []float32, rows, cols int, scale float32, causal bool, lse []float32) {
	for r := 0; r < rows; r++ {
		s := src[r*cols : (r+1)*cols]
		d := dst[r*cols : (r+1)*cols]
		n := causalLen(r, cols, causal)
		m := float32(math.Inf(-1))
		for j := 0; j < n; j++ {
			if v := s[j] * scale; v > m {
				m = v
			}
		}
		var sum float32
		for j := 0; j < n; j++ {
			e := expf(s[j]*scale - m)
			d[j] = e
			sum += e
		}
		inv := 1 / sum
		for j := 0; j < n; j++ {
			d[j] *= inv
		}
		for j := n; j < cols; j++ {
			d[j] = 0
		}
		if lse != nil {
			lse[r] = m + logf(sum)
		}
	}
}

// SoftmaxBackward is the gradient of SoftmaxForward with respect to src:
// with P = dst of the forward pass and dP its incoming gradient,
// dsrc = scale · P ⊙ (dP − rowsum(dP ⊙ P)). Masked entries get 0.
// dsrc may alias dp.
func SoftmaxBackward(dsrc, p, dp []float32, rows, cols int, scale float32, causal bool) {
	for r := 0; r < rows; r++ {
		pr := p[r*cols : (r+1)*cols]
		dpr := dp[r*cols : (r+1)*cols]
		ds := dsrc[r*cols : (r+1)*cols]
		n := causalLen(r, cols, causal)
		var dot float32
		for j := 0; j < n; j++ {
			dot += pr[j] * dpr[j]
		}
		for j := 0; j < n; j++ {
			ds[j] = scale * pr[j] * (dpr[j] - dot)
		}
		for j := n; j < cols; j++ {
			ds[j] = 0
		}
	}
}

// LayerNormEps is the variance epsilon of every layer norm in the model.
const LayerNormEps = 1e-5

// layerNormStats returns the mean and reciprocal standard deviation of a
// row, accumulated in float64.
func layerNormStats(x []float32, eps float32) (mean, rstd float32) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mu := s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mu
		ss += d * d
	}
	return float32(mu), float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
}

// LayerNormForward normalises each row of the rows×cols matrix x to zero
// mean and unit variance, then scales by g and shifts by b (both len cols):
// y = (x − μ)·rstd·g + b.
func LayerNormForward(y, x, g, b []float32, rows, cols int, eps float32) {
	for r := 0; r < rows; r++ {
		xr := x[r*cols : (r+1)*cols]
		yr := y[r*cols : (r+1)*cols]
		mu, rstd := layerNormStats(xr, eps)
		for j, v := range xr {
			yr[j] = (v-mu)*rstd*g[j] + b[j]
		}
	}
}

// LayerNormBackward computes the gradients of LayerNormForward. Any of dx,
// dg, db may be nil to skip it; the others are overwritten (not
// accumulated). With x̂ = (x−μ)·rstd and dx̂ = dy·g:
// dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dg = Σ_rows dy·x̂, db = Σ_rows dy.
func LayerNormBackward(dx, dg, db, x, g, dy []float32, rows, cols int, eps float32) {
	if dg != nil {
		clear(dg[:cols])
	}
	if db != nil {
		clear(db[:cols])
	}
	for r := 0; r < rows; r++ {
		xr := x[r*cols : (r+1)*cols]
		dyr := dy[r*cols : (r+1)*cols]
		if db != nil {
			for j, v := range dyr {
				db[j] += v
			}
		}
		if dx == nil && dg == nil {
			continue
		}
		mu, rstd := layerNormStats(xr, eps)
		if dg != nil {
			for j, v := range xr {
				dg[j] += dyr[j] * (v - mu) * rstd
			}
		}
		if dx == nil {
			continue
		}
		var m1, m2 float32
		for j, v := range xr {
			xh := (v - mu) * rstd
			d := dyr[j] * g[j]
			m1 += d
			m2 += d * xh
		}
		m1 /= float32(cols)
		m2 /= float32(cols)
		dxr := dx[r*cols : (r+1)*cols]
		for j, v := range xr {
			xh := (v - mu) * rstd
			dxr[j] = rstd * (dyr[j]*g[j] - m1 - xh*m2)
		}
	}
}

const (
	geluK = 0.7978845608028654 // sqrt(2/π)
	geluC = 0.044715
)

// GELUForward is the tanh approximation of GELU (as in GPT-2):
// y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))). y and x may alias.
func GELUForward(y, x []float32) {
	for i, v := range x {
		t := float32(math.Tanh(float64(geluK * (v + geluC*v*v*v))))
		y[i] = 0.5 * v * (1 + t)
	}
}

// GELUBackward computes dx = dy · GELU'(x). dx and dy may alias.
func GELUBackward(dx, x, dy []float32) {
	for i, v := range x {
		u := geluK * (v + geluC*v*v*v)
		t := float32(math.Tanh(float64(u)))
		d := 0.5*(1+t) + 0.5*v*(1-t*t)*geluK*(1+3*geluC*v*v)
		dx[i] = dy[i] * d
	}
}

// AttnShape describes the attention of one layer: B sequences of T
// positions, H heads of width D (the model width is C = H·D). The fused
// projection qkv is a (B·T)×3C matrix whose columns [0,C), [C,2C), [2C,3C)
// hold queries, keys and values; head h uses columns h·D..(h+1)·D of each.
// Scores and probabilities are (B·H)×T×T, laid out [b][h][i][j].
type AttnShape struct {
	B, T, H, D int
	Causal     bool
}

func (a AttnShape) c() int { return a.H * a.D }

// AttnScores computes s[b,h,i,j] = ⟨q[b,i,h], k[b,j,h]⟩ (unscaled; the
// scale is fused into the softmax). With Causal, entries j > i are 0.
func AttnScores(s, qkv []float32, a AttnShape) {
	C := a.c()
	headDots(s, qkv, 3*C, 0, qkv, C, a)
}

// headDots computes out[b,h,i,j] = ⟨x[b,i,h], y[b,j,h]⟩, 0 for masked
// entries: x has rows of xld floats with head h at xoff + h·D, y is qkv
// (rows of 3C) with head h at yoff + h·D.
func headDots(out, x []float32, xld, xoff int, qkv []float32, yoff int, a AttnShape) {
	ld := 3 * a.c()
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			base := ((b*a.H + h) * a.T) * a.T
			for i := 0; i < a.T; i++ {
				xo := (b*a.T+i)*xld + xoff + h*a.D
				xr := x[xo : xo+a.D]
				row := out[base+i*a.T : base+(i+1)*a.T]
				n := causalLen(i, a.T, a.Causal)
				for j := 0; j < n; j++ {
					yo := (b*a.T+j)*ld + yoff + h*a.D
					y := qkv[yo : yo+a.D]
					var acc float32
					for d, xv := range xr {
						acc += xv * y[d]
					}
					row[j] = acc
				}
				for j := n; j < a.T; j++ {
					row[j] = 0
				}
			}
		}
	}
}

// AttnScoresBackward writes into dqkv the gradient of AttnScores:
// dq[i] = Σ_j ds[i,j]·k[j], dk[j] = Σ_i ds[i,j]·q[i]; the value columns of
// dqkv are set to 0.
func AttnScoresBackward(dqkv, ds, qkv []float32, a AttnShape) {
	C := a.c()
	ld := 3 * C
	clear(dqkv[:a.B*a.T*ld])
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			base := ((b*a.H + h) * a.T) * a.T
			for i := 0; i < a.T; i++ {
				qo := (b*a.T+i)*ld + h*a.D
				q := qkv[qo : qo+a.D]
				dq := dqkv[qo : qo+a.D]
				row := ds[base+i*a.T : base+(i+1)*a.T]
				n := causalLen(i, a.T, a.Causal)
				for j := 0; j < n; j++ {
					g := row[j]
					if g == 0 {
						continue
					}
					ko := (b*a.T+j)*ld + C + h*a.D
					k := qkv[ko : ko+a.D]
					dk := dqkv[ko : ko+a.D]
					for d := range dq {
						dq[d] += g * k[d]
						dk[d] += g * q[d]
					}
				}
			}
		}
	}
}

// AttnContext computes y[b,i,h] = Σ_j p[b,h,i,j]·v[b,j,h]; y is (B·T)×C
// with the heads concatenated.
func AttnContext(y, p, qkv []float32, a AttnShape) {
	C := a.c()
	ld := 3 * C
	clear(y[:a.B*a.T*C])
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			base := ((b*a.H + h) * a.T) * a.T
			for i := 0; i < a.T; i++ {
				yo := (b*a.T+i)*C + h*a.D
				yr := y[yo : yo+a.D]
				row := p[base+i*a.T : base+(i+1)*a.T]
				n := causalLen(i, a.T, a.Causal)
				for j := 0; j < n; j++ {
					w := row[j]
					vo := (b*a.T+j)*ld + 2*C + h*a.D
					v := qkv[vo : vo+a.D]
					for d := range yr {
						yr[d] += w * v[d]
					}
				}
			}
		}
	}
}

// AttnContextBackwardP computes dp[b,h,i,j] = ⟨dy[b,i,h], v[b,j,h]⟩ (0 for
// masked entries).
func AttnContextBackwardP(dp, dy, qkv []float32, a AttnShape) {
	C := a.c()
	headDots(dp, dy, C, 0, qkv, 2*C, a)
}

// AttnContextBackwardV writes into dqkv the value gradient of AttnContext,
// dv[b,j,h] = Σ_i p[b,h,i,j]·dy[b,i,h]; query and key columns are set to 0.
func AttnContextBackwardV(dqkv, p, dy []float32, a AttnShape) {
	C := a.c()
	ld := 3 * C
	clear(dqkv[:a.B*a.T*ld])
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			base := ((b*a.H + h) * a.T) * a.T
			for i := 0; i < a.T; i++ {
				yo := (b*a.T+i)*C + h*a.D
				g := dy[yo : yo+a.D]
				row := p[base+i*a.T : base+(i+1)*a.T]
				n := causalLen(i, a.T, a.Causal)
				for j := 0; j < n; j++ {
					w := row[j]
					if w == 0 {
						continue
					}
					vo := (b*a.T+j)*ld + 2*C + h*a.D
					dv := dqkv[vo : vo+a.D]
					for d := range dv {
						dv[d] += w * g[d]
					}
				}
			}
		}
	}
}

// Linear computes y = x·W + bias for x of shape n×k, W of shape k×m (or,
// with transW, W of shape m×k and y = x·Wᵀ). bias (len m) may be nil.
func Linear(y, x, w, bias []float32, n, k, m int, transW bool) {
	if bias != nil {
		for r := 0; r < n; r++ {
			copy(y[r*m:(r+1)*m], bias[:m])
		}
	}
	beta := float32(0)
	if bias != nil {
		beta = 1
	}
	if transW {
		blas32.Sgemm(blas.NoTrans, blas.Trans, n, m, k, 1, x, k, w, k, beta, y, m)
	} else {
		blas32.Sgemm(blas.NoTrans, blas.NoTrans, n, m, k, 1, x, k, w, m, beta, y, m)
	}
}

// LinearBackwardX computes dx = dy·Wᵀ (n×k), or dy·W with transW.
func LinearBackwardX(dx, w, dy []float32, n, k, m int, transW bool) {
	if transW {
		blas32.Sgemm(blas.NoTrans, blas.NoTrans, n, k, m, 1, dy, m, w, k, 0, dx, k)
	} else {
		blas32.Sgemm(blas.NoTrans, blas.Trans, n, k, m, 1, dy, m, w, m, 0, dx, k)
	}
}

// LinearBackwardW computes dW = xᵀ·dy (k×m), or dyᵀ·x (m×k) with transW.
func LinearBackwardW(dw, x, dy []float32, n, k, m int, transW bool) {
	if transW {
		blas32.Sgemm(blas.Trans, blas.NoTrans, m, k, n, 1, dy, m, x, k, 0, dw, k)
	} else {
		blas32.Sgemm(blas.Trans, blas.NoTrans, k, m, n, 1, x, k, dy, m, 0, dw, m)
	}
}

// ColSum computes out[j] = Σ_r x[r,j] of a rows×cols matrix (the bias
// gradient of Linear and LayerNorm).
func ColSum(out, x []float32, rows, cols int) {
	clear(out[:cols])
	for r := 0; r < rows; r++ {
		for j, v := range x[r*cols : (r+1)*cols] {
			out[j] += v
		}
	}
}

// EmbedForward computes out[n] = tok[idx[n]] + pos[n mod T] for n tokens
// of width C. idx values must already be validated to lie in [0, V).
func EmbedForward(out, tok, pos []float32, idx []int32, T, C int) {
	for n, id := range idx {
		o := out[n*C : (n+1)*C]
		tr := tok[int(id)*C : int(id)*C+C]
		pr := pos[(n%T)*C : (n%T)*C+C]
		for j := range o {
			o[j] = tr[j] + pr[j]
		}
	}
}

// EmbedBackwardTok overwrites dtok (V×C) with the scatter-sum of dy rows
// by token id.
func EmbedBackwardTok(dtok, dy []float32, idx []int32, C int) {
	clear(dtok)
	for n, id := range idx {
		d := dtok[int(id)*C : int(id)*C+C]
		for j, v := range dy[n*C : (n+1)*C] {
			d[j] += v
		}
	}
}

// EmbedBackwardPos overwrites dpos (Context×C) with the sum over sequences
// of dy rows by position; positions ≥ T get 0.
func EmbedBackwardPos(dpos, dy []float32, nTokens, T, C int) {
	clear(dpos)
	for n := 0; n < nTokens; n++ {
		d := dpos[(n%T)*C : (n%T)*C+C]
		for j, v := range dy[n*C : (n+1)*C] {
			d[j] += v
		}
	}
}

// CrossEntropy returns the mean over rows with target ≥ 0 of
// −log softmax(logits[r])[target[r]] for an n×v logits matrix; rows whose
// target is negative are ignored. It returns 0 when every row is ignored.
func CrossEntropy(logits []float32, targets []int32, n, v int) float32 {
	var sum float64
	cnt := 0
	for r := 0; r < n; r++ {
		t := targets[r]
		if t < 0 {
			continue
		}
		row := logits[r*v : (r+1)*v]
		m := row[0]
		for _, x := range row[1:] {
			if x > m {
				m = x
			}
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x - m))
		}
		sum += math.Log(s) + float64(m) - float64(row[t])
		cnt++
	}
	if cnt == 0 {
		return 0
	}
	return float32(sum / float64(cnt))
}

// CrossEntropyBackward overwrites dlogits with g·(softmax(logits) −
// onehot(target))/count for the counted rows and 0 for ignored rows.
func CrossEntropyBackward(dlogits, logits []float32, targets []int32, n, v int, g float32) {
	cnt := 0
	for _, t := range targets[:n] {
		if t >= 0 {
			cnt++
		}
	}
	scale := float32(0)
	if cnt > 0 {
		scale = g / float32(cnt)
	}
	for r := 0; r < n; r++ {
		d := dlogits[r*v : (r+1)*v]
		t := targets[r]
		if t < 0 {
			clear(d)
			continue
		}
		row := logits[r*v : (r+1)*v]
		m := row[0]
		for _, x := range row[1:] {
			if x > m {
				m = x
			}
		}
		var s float32
		for j, x := range row {
			e := expf(x - m)
			d[j] = e
			s += e
		}
		k := scale / s
		for j := range d {
			d[j] *= k
		}
		d[t] -= scale
	}
}
