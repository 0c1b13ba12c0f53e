package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// This file is the part of the attention softmax that is the same in both
// builds: shapes and their validation, the launch plans (which kernel, how
// many threads), the parameter block, the pure-Go references (the
// specification of kernels/softmax_fwd.cu and softmax_bwd.cu) and bf16
// conversions.

// Precision is the element type of a softmax's inputs and outputs. All
// arithmetic is fp32 either way.
type Precision int

const (
	// F32 is IEEE binary32.
	F32 Precision = iota
	// BF16 is bfloat16 (the high half of a binary32), stored as uint16.
	BF16
)

func (p Precision) String() string {
	switch p {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("precision(%d)", int(p))
}

// Size is the size of one element in bytes.
func (p Precision) Size() int {
	if p == BF16 {
		return 2
	}
	return 4
}

// SoftmaxShape describes one attention softmax: a Rows×Cols row-major
// matrix of scores S, the scale applied before the softmax (1/√d), and the
// causal mask. With Causal the rows are grouped in square Cols×Cols
// matrices (one per batch·head): row r is query position q = r mod Cols and
// columns k > q are masked (never read; written as 0). This is the
// convention of worker/model.SoftmaxForward.
type SoftmaxShape struct {
	Rows, Cols int
	Scale      float32
	Causal     bool
	Precision  Precision
}

// Limits of a softmax shape.
const (
	// MaxSoftmaxRows is the most rows of one launch (the grid limit).
	MaxSoftmaxRows = 1<<31 - 1
	// MaxSoftmaxCols is the longest row.
	MaxSoftmaxCols = 1 << 28
)

func (sh SoftmaxShape) validate() error {
	switch {
	case sh.Rows < 1 || sh.Rows > MaxSoftmaxRows:
		return invalid("softmax rows %d not in 1..%d", sh.Rows, MaxSoftmaxRows)
	case sh.Cols < 1 || sh.Cols > MaxSoftmaxCols:
		return invalid("softmax cols %d not in 1..%d", sh.Cols, MaxSoftmaxCols)
	case sh.Precision != F32 && sh.Precision != BF16:
		return invalid("softmax precision %d", int(sh.Precision))
	case math.IsNaN(float64(sh.Scale)) || math.IsInf(float64(sh.Scale), 0):
		return invalid("softmax scale %v", sh.Scale)
	}
	return nil
}

// Elems is the number of matrix entries.
func (sh SoftmaxShape) Elems() int64 { return int64(sh.Rows) * int64(sh.Cols) }

// Bytes is the size of one matrix in bytes.
func (sh SoftmaxShape) Bytes() int64 { return sh.Elems() * int64(sh.Precision.Size()) }

// visible is the number of visible columns of row r.
func (sh SoftmaxShape) visible(r int) int {
	if sh.Causal {
		return r%sh.Cols + 1
	}
	return sh.Cols
}

// softmaxKind is the shape of a softmax kernel (see kernels/softmax_fwd.cu).
type softmaxKind int

const (
	kindAuto   softmaxKind = iota
	kindWarp               // LANES lanes of a warp per row, row in registers
	kindBlock              // one block per row, row in registers
	kindOnline             // one block per row, two passes over memory
)

func (k softmaxKind) String() string {
	return [...]string{"auto", "warp", "block", "online"}[k]
}

// softmaxWarpThreads is the block size of the warp kernels (their launch
// bound).
const softmaxWarpThreads = 128

// softmaxRegFloats is the most row elements a thread of a register kernel
// holds (F), per kind: warp kernels 32; block kernels 16 or 32.
const softmaxRegFloats = 32

// softmaxPlan is one launch: the module and entry point, and its shape.
type softmaxPlan struct {
	module      string
	name        string
	kind        softmaxKind
	grid, block int
	lanes, nv   int // warp kernels: lanes per row and chunks per lane
	floats      int // block kernels: F
	vector      bool
}

// chunkWidth is W: elements per 16-byte chunk on the vector path, else 1.
func chunkWidth(p Precision, vector bool) int {
	if !vector {
		return 1
	}
	return 16 / p.Size()
}

// blockMaxThreads is a block or online kernel's launch bound (chosen so
// that no kernel spills on any of sm_80..sm_90).
func blockMaxThreads(bwd bool, kind softmaxKind, vector bool, floats int) int {
	switch {
	case kind == kindOnline:
		return 512
	case !bwd && vector:
		return 1024
	case !bwd:
		return 512
	case vector && floats == 16:
		return 1024
	case !vector && floats == 32:
		return 256
	}
	return 512
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// planSoftmax picks the kernel for a shape. vector says whether the 16-byte
// path may be used (Cols a multiple of 16 bytes of elements and every
// pointer 16-byte aligned); force picks a kind (kindAuto: the fastest that
// fits: warp kernels up to 32 elements per lane, block kernels up to their
// register capacity, the online kernel beyond).
func planSoftmax(bwd bool, sh SoftmaxShape, vector bool, force softmaxKind) (softmaxPlan, error) {
	if err := sh.validate(); err != nil {
		return softmaxPlan{}, err
	}
	if vector && sh.Cols%chunkWidth(sh.Precision, true) != 0 {
		return softmaxPlan{}, invalid("softmax vector path with %d columns of %s", sh.Cols, sh.Precision)
	}
	W := chunkWidth(sh.Precision, vector)
	chunks := (sh.Cols + W - 1) / W
	dir, module := "fwd", kernels.SoftmaxFwd
	if bwd {
		dir, module = "bwd", kernels.SoftmaxBwd
	}
	path := "s"
	if vector {
		path = "v"
	}
	prefix := fmt.Sprintf("softmax_%s_%s_%s_", dir, sh.Precision, path)
	p := softmaxPlan{module: module, vector: vector}

	if force == kindAuto || force == kindWarp {
		// Two chunks per lane as soon as a row has two: twice the loads
		// in flight per thread on short rows.
		for _, c := range [][2]int{{1, 1}, {1, 2}, {2, 2}, {4, 2}, {8, 2}, {16, 2}, {32, 2}, {32, 4}, {32, 8}, {32, 16}, {32, 32}} {
			lanes, nv := c[0], c[1]
			if nv*W > softmaxRegFloats {
				break
			}
			if lanes*nv >= chunks {
				p.kind, p.lanes, p.nv = kindWarp, lanes, nv
				p.name = fmt.Sprintf("%sw%dx%d", prefix, lanes, nv)
				p.block = softmaxWarpThreads
				p.grid = int((int64(sh.Rows)*int64(lanes) + softmaxWarpThreads - 1) / softmaxWarpThreads)
				return p, nil
			}
		}
		if force == kindWarp {
			return softmaxPlan{}, invalid("softmax: %d columns of %s do not fit a warp", sh.Cols, sh.Precision)
		}
	}
	if force == kindAuto || force == kindBlock {
		// The smaller F whose block has at most 256 threads; else the
		// larger F up to its launch bound.
		for _, limit := range []int{256, 0} {
			for _, f := range []int{16, 32} {
				threads := roundUp((chunks+f/W-1)/(f/W), 32)
				maxT := blockMaxThreads(bwd, kindBlock, vector, f)
				if limit > 0 {
					maxT = min(maxT, limit)
				}
				if threads <= maxT {
					p.kind, p.floats = kindBlock, f
					p.name = fmt.Sprintf("%sb%d", prefix, f)
					p.block, p.grid = threads, sh.Rows
					return p, nil
				}
			}
		}
		if force == kindBlock {
			return softmaxPlan{}, invalid("softmax: %d columns of %s do not fit a block's registers", sh.Cols, sh.Precision)
		}
	}
	// Online: four chunks in flight per thread per pass.
	p.kind = kindOnline
	p.name = prefix + "online"
	p.block = min(blockMaxThreads(bwd, kindOnline, vector, 0), max(32, roundUp((chunks+3)/4, 32)))
	p.grid = sh.Rows
	return p, nil
}

// softmaxParamsSize is sizeof(SoftmaxParams) in kernels/softmax_common.cuh.
const softmaxParamsSize = 56

// softmaxParams packs the kernels' parameter block (struct SoftmaxParams):
// out, in0, in1, lse pointers; rows, cols; scale, scale·log2(e); causal.
func softmaxParams(sh SoftmaxShape, out, in0, in1, lse uint64) [softmaxParamsSize]byte {
	var b [softmaxParamsSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], out)
	le.PutUint64(b[8:], in0)
	le.PutUint64(b[16:], in1)
	le.PutUint64(b[24:], lse)
	le.PutUint32(b[32:], uint32(sh.Rows))
	le.PutUint32(b[36:], uint32(sh.Cols))
	le.PutUint32(b[40:], math.Float32bits(sh.Scale))
	le.PutUint32(b[44:], math.Float32bits(float32(float64(sh.Scale)*math.Log2E)))
	if sh.Causal {
		le.PutUint32(b[48:], 1)
	}
	return b
}

// SoftmaxForwardReference is the specification of the forward kernels, in
// float64: dst = softmax(Scale·src) row by row over the visible columns
// (masked ones 0), and, if lse is not nil, lse[r] = the log-sum-exp of row
// r's scaled visible entries. sh.Precision is ignored (callers round bf16
// inputs and outputs themselves). dst and src may be the same slice.
func SoftmaxForwardReference(dst, src, lse []float32, sh SoftmaxShape) {
	parallelRows(sh, func(lo, hi int) { softmaxForwardRows(dst, src, lse, sh, lo, hi) })
}

// parallelRows splits rows 0..sh.Rows-1 over the CPUs when the matrix is
// large (rows are independent), else runs fn(0, sh.Rows).
func parallelRows(sh SoftmaxShape, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if sh.Elems() < 1<<20 || workers < 2 || sh.Rows < 2 {
		fn(0, sh.Rows)
		return
	}
	chunk := (sh.Rows + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < sh.Rows; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, sh.Rows))
	}
	wg.Wait()
}

func softmaxForwardRows(dst, src, lse []float32, sh SoftmaxShape, lo, hi int) {
	rowBuf := make([]float64, sh.Cols)
	for r := lo; r < hi; r++ {
		s := src[r*sh.Cols : (r+1)*sh.Cols]
		d := dst[r*sh.Cols : (r+1)*sh.Cols]
		n := sh.visible(r)
		m := math.Inf(-1)
		for j := 0; j < n; j++ {
			rowBuf[j] = float64(s[j]) * float64(sh.Scale)
			m = math.Max(m, rowBuf[j])
		}
		var sum float64
		for j := 0; j < n; j++ {
			rowBuf[j] = math.Exp(rowBuf[j] - m)
			sum += rowBuf[j]
		}
		for j := 0; j < n; j++ {
			d[j] = float32(rowBuf[j] / sum)
		}
		for j := n; j < sh.Cols; j++ {
			d[j] = 0
		}
		if lse != nil {
			lse[r] = float32(m + math.Log(sum))
		}
	}
}

// SoftmaxBackwardReference is the specification of the backward kernels,
// in float64: with P the forward output and dP its incoming gradient,
// dsrc = Scale · P ⊙ (dP − rowsum(dP ⊙ P)) over the visible columns (masked
// ones 0). dsrc may be the same slice as dp.
func SoftmaxBackwardReference(dsrc, p, dp []float32, sh SoftmaxShape) {
	parallelRows(sh, func(lo, hi int) { softmaxBackwardRows(dsrc, p, dp, sh, lo, hi) })
}

func softmaxBackwardRows(dsrc, p, dp []float32, sh SoftmaxShape, lo, hi int) {
	for r := lo; r < hi; r++ {
		pr := p[r*sh.Cols : (r+1)*sh.Cols]
		gr := dp[r*sh.Cols : (r+1)*sh.Cols]
		out := dsrc[r*sh.Cols : (r+1)*sh.Cols]
		n := sh.visible(r)
		var dot float64
		for j := 0; j < n; j++ {
			dot += float64(pr[j]) * float64(gr[j])
		}
		for j := 0; j < n; j++ {
			out[j] = float32(float64(sh.Scale) * float64(pr[j]) * (float64(gr[j]) - dot))
		}
		for j := n; j < sh.Cols; j++ {
			out[j] = 0
		}
	}
}

// BF16FromFloat32 rounds f to the nearest bfloat16 (ties to even); NaN
// becomes the quiet NaN 0x7fff, as the GPU's conversion does.
func BF16FromFloat32(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return 0x7fff
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// Float32FromBF16 widens a bfloat16 exactly.
func Float32FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
