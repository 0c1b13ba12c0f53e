package gpu

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/kernels"
)

// Kernel entry points of the sketch modules, and the module of each.
const (
	kDsSparse       = "ds_sparse"
	kDsEstimate     = "ds_estimate"
	kDsGauss        = "ds_gauss"
	kDsAMS          = "ds_ams"
	kFwhtPass       = "fwht_pass"
	kFwhtPassReg    = "fwht_pass_reg"
	kSrhtLinkInit   = "srht_link_init"
	kSrhtLink       = "srht_link"
	kTopkHist1      = "topk_hist1"
	kTopkSelect     = "topk_select"
	kTopkPass2      = "topk_pass2"
	kTopkTies       = "topk_ties"
	kTopkTieCount   = "topk_tiecount"
	kTopkTieFind    = "topk_tiefind"
	kQQuantize      = "q_quantize"
	kQPack4         = "q_pack4"
	kQRaw           = "q_raw"
	kQDequantAgg    = "q_dequant_agg"
	kEfCombine      = "ef_combine"
	kApUpdate       = "ap_update"
	kApLeaf         = "ap_leaf"
	kSkSparseGlobal = "sk_sparse_global"
	kSkSparseShared = "sk_sparse_shared"
	kSkGaussFwd     = "sk_gauss_fwd"
	kSkAMSFwd       = "sk_ams_fwd"
	kSkReduceRows   = "sk_reduce_rows"
)

// sketchKernels maps every sketch entry point to its module (kernels/*.cu).
var sketchKernels = map[string]string{
	kDsSparse: kernels.Desketch, kDsEstimate: kernels.Desketch, kDsGauss: kernels.Desketch, kDsAMS: kernels.Desketch,
	kFwhtPass: kernels.FWHT, kFwhtPassReg: kernels.FWHT, kSrhtLinkInit: kernels.FWHT, kSrhtLink: kernels.FWHT,
	kTopkHist1: kernels.TopK, kTopkSelect: kernels.TopK, kTopkPass2: kernels.TopK, kTopkTies: kernels.TopK,
	kTopkTieCount: kernels.TopK, kTopkTieFind: kernels.TopK,
	kQQuantize: kernels.Quant, kQPack4: kernels.Quant, kQRaw: kernels.Quant, kQDequantAgg: kernels.Quant, kEfCombine: kernels.Quant,
	kApUpdate: kernels.Apply, kApLeaf: kernels.Apply,
	kSkSparseGlobal: kernels.Sketch, kSkSparseShared: kernels.Sketch, kSkGaussFwd: kernels.Sketch, kSkAMSFwd: kernels.Sketch,
	kSkReduceRows: kernels.Sketch,
}

// Sizes of the kernels' parameter structs (static_asserts in the .cu files;
// the host-compiled kernels report theirs, TestSketchParamLayout).
var sketchArgSizes = map[string]int{
	kDsSparse: 184, kDsEstimate: 184, kDsGauss: 184, kDsAMS: 184,
	kFwhtPass: 248, kFwhtPassReg: 248, kSrhtLinkInit: 248, kSrhtLink: 248,
	kTopkHist1: 64, kTopkSelect: 64, kTopkPass2: 64, kTopkTies: 64, kTopkTieCount: 64, kTopkTieFind: 64,
	kQQuantize: 104, kQPack4: 104, kQRaw: 104, kQDequantAgg: 104, kEfCombine: 104,
	kApUpdate: 88, kApLeaf: 88,
	kSkSparseGlobal: 152, kSkSparseShared: 152, kSkGaussFwd: 152, kSkAMSFwd: 152, kSkReduceRows: 152,
}

// Constants shared with the kernels (sketch_common.cuh and the .cu files).
const (
	outStore = 0 // GcOut modes
	outApply = 1

	fwInPlain   = 0 // fwht_pass input modes
	fwInSigned  = 1
	fwInGather  = 2
	fwOutPlain  = 0 // fwht_pass output modes
	fwOutFinal  = 1
	fwOutSample = 2

	topkBins1       = 2048
	topkBins2       = 1 << 20
	topkSelectBlock = 1024 // TOPK_SELECT_THREADS, TOPK_TIES_THREADS
	topkChunk       = 4096 // values per block of the overflow tie scan

	skRows      = 8    // SK_ROWS
	skGaussCols = 2048 // 256 threads x SK_GAUSS_CPT
	skAMSWords  = 64   // SK_AMS_WORDS
	dsGaussTile = 256  // columns per ds_gauss block (one per thread)
	leafBlock   = 128  // ap_leaf threads per block

	noBadIndex = 0xffffffff // GcOut.bad before a launch
)

// ihVar is Var[T] of chain/sketch's Irwin–Hall generator (sketch.ihVar).
const ihVar = 8 * (4294967296.0 - 1) / 3

// geom is the kernels' SkGeom: a sketch's keys and derived constants, each
// computed with the same expression as sketch.New so that it has the same
// bits (TestSketchGeomMatchesEntries checks them against Sketch.Entry).
type geom struct {
	cfg                       sketch.Config
	key, keyD, keyP           sketch.Key
	d, m, pad, words          uint64
	t, stride, span           uint32
	nzScale, sqrtT, srhtScale float32
	log2pad                   uint32
	dense                     float64
}

func geomOf(s *sketch.Sketch) geom {
	cfg := s.Config()
	g := geom{cfg: cfg, d: uint64(s.Dim()), m: uint64(s.Rows())}
	g.key, g.keyD, g.keyP = s.Keys()
	g.pad = g.d
	switch cfg.Family {
	case sketch.CountSketch, sketch.SparseEmbedding1, sketch.SparseEmbedding2:
		g.t = uint32(cfg.NNZ)
		w := uint32(cfg.Rows / cfg.NNZ)
		g.nzScale = float32(1 / math.Sqrt(float64(cfg.NNZ)))
		g.sqrtT = float32(math.Sqrt(float64(cfg.NNZ)))
		g.stride, g.span = w, w
		if cfg.Family == sketch.SparseEmbedding1 {
			g.stride, g.span = 0, uint32(cfg.Rows)
		}
	case sketch.SRHT:
		g.pad = uint64(s.PaddedDim())
		g.log2pad = uint32(bits.TrailingZeros64(g.pad))
		g.srhtScale = float32(1 / math.Sqrt(float64(cfg.Rows)))
	case sketch.Gaussian:
		g.dense = 1 / math.Sqrt(ihVar*float64(cfg.Rows))
	case sketch.AMS:
		g.dense = 1 / math.Sqrt(float64(cfg.Rows))
		g.words = (g.d + 63) / 64
	}
	return g
}

// params packs a kernel's parameter struct: each field at its natural
// alignment, in declaration order, the size rounded to 8, which is the C
// layout of the structs in kernels/*.cu (all of whose members are 4- or
// 8-byte scalars, pointers, or structs of them).
type params struct{ b []byte }

func (p *params) align(n int) {
	for len(p.b)%n != 0 {
		p.b = append(p.b, 0)
	}
}

func (p *params) u32(v uint32) *params {
	p.align(4)
	p.b = binary.LittleEndian.AppendUint32(p.b, v)
	return p
}

func (p *params) u64(v uint64) *params {
	p.align(8)
	p.b = binary.LittleEndian.AppendUint64(p.b, v)
	return p
}

func (p *params) f32(v float32) *params { return p.u32(math.Float32bits(v)) }
func (p *params) f64(v float64) *params { return p.u64(math.Float64bits(v)) }
func (p *params) ptr(v DevicePtr) *params {
	return p.u64(uint64(v))
}

func (p *params) bytes() []byte {
	p.align(8)
	return p.b
}

// geom appends an SkGeom.
func (p *params) geom(g *geom) *params {
	for _, k := range []sketch.Key{g.key, g.keyD, g.keyP} {
		p.u64(k.A).u64(k.B)
	}
	p.u64(g.d).u64(g.m).u64(g.pad).u64(g.words)
	p.u32(g.t).u32(g.stride).u32(g.span)
	p.f32(g.nzScale).f32(g.sqrtT).f32(g.srhtScale)
	p.u32(g.log2pad).u32(uint32(g.cfg.Family))
	return p.f64(g.dense)
}

// out is a GcOut: where a de-sketch goes.
type out struct {
	mode    uint32
	dst     DevicePtr // store: destination
	w, wout DevicePtr // apply: weights in and out
	bad     DevicePtr // apply: lowest non-finite index (one word)
	coef    float32
}

func (p *params) out(o out) *params {
	return p.ptr(o.dst).ptr(o.w).ptr(o.wout).ptr(o.bad).f32(o.coef).u32(o.mode)
}

// dsArgs is DsArgs (desketch.cu).
func dsArgs(g *geom, o out, y, u, hist1 DevicePtr) []byte {
	var p params
	return p.geom(g).out(o).ptr(y).ptr(u).ptr(hist1).bytes()
}

// fwArgs is FwhtArgs (fwht.cu).
type fwArgs struct {
	o                                   out
	src, z, x, y, dst, head, next, bits DevicePtr
	s0, k, c, inMode, outMode, zlimit   uint32
}

func (a *fwArgs) pack(g *geom) []byte {
	var p params
	p.geom(g).out(a.o)
	for _, v := range []DevicePtr{a.src, a.z, a.x, a.y, a.dst, a.head, a.next, a.bits} {
		p.ptr(v)
	}
	for _, v := range []uint32{a.s0, a.k, a.c, a.inMode, a.outMode, a.zlimit} {
		p.u32(v)
	}
	return p.bytes()
}

// topkArgs is TopkArgs (topk.cu).
type topkArgs struct {
	u, st, hist1, hist2, list, chunks DevicePtr
	n, cap, level, chunkLen           uint32
}

func (a *topkArgs) pack() []byte {
	var p params
	for _, v := range []DevicePtr{a.u, a.st, a.hist1, a.hist2, a.list, a.chunks} {
		p.ptr(v)
	}
	return p.u32(a.n).u32(a.cap).u32(a.level).u32(a.chunkLen).bytes()
}

// qArgs is QArgs (quant.cu).
type qArgs struct {
	y, payload, codes, payloads, agg, flag, a, b, out DevicePtr
	m, bits, block, nblocks, n, op                    uint32
	pstride                                           uint64
}

func (a *qArgs) pack() []byte {
	var p params
	for _, v := range []DevicePtr{a.y, a.payload, a.codes, a.payloads, a.agg, a.flag, a.a, a.b, a.out} {
		p.ptr(v)
	}
	for _, v := range []uint32{a.m, a.bits, a.block, a.nblocks, a.n, a.op} {
		p.u32(v)
	}
	return p.u64(a.pstride).bytes()
}

// apArgs is ApArgs (apply.cu).
type apArgs struct {
	o                 out
	u, st, w, leaves  DevicePtr
	n, chunk, nleaves uint32
}

func (a *apArgs) pack() []byte {
	var p params
	p.out(a.o).ptr(a.u).ptr(a.st).ptr(a.w).ptr(a.leaves)
	return p.u32(a.n).u32(a.chunk).u32(a.nleaves).u32(0).bytes()
}

// skArgs is SkArgs (sketch.cu).
func skArgs(g *geom, x, y, partial DevicePtr, ntiles, row0 uint32) []byte {
	var p params
	return p.geom(g).ptr(x).ptr(y).ptr(partial).u32(ntiles).u32(row0).bytes()
}

// Operations of ef_combine (QArgs.op) and q_dequant_agg.
const (
	efAdd   = 0 // out = a + b
	efSub   = 1 // out = a - b
	efCheck = 2 // out = a (finiteness check)

	aggSum   = 0 // agg = ((+0 + v1) + v2) + ... (Apply's aggregate)
	aggFirst = 1 // agg = v1 (Dequantize of one payload)
)
