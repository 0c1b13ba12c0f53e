package gpu

import (
	"encoding/binary"
	"unsafe"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// kdev is what the sketch engine needs from a device: a CUDA context and
// one stream in the gccuda build (sketch_cuda.go), or, in the tests, the
// kernel sources compiled for the CPU (sketch_host_test.go), so that the
// same launch sequences run in both. All operations are in stream order;
// download waits for everything before it.
type kdev interface {
	alloc(bytes int64) (DevicePtr, error)
	free(p DevicePtr) error
	upload(dst DevicePtr, src []byte) error
	download(dst []byte, src DevicePtr) error
	memset32(dst DevicePtr, v uint32, words int) error
	copyDtoD(dst, src DevicePtr, bytes int64) error
	launch(name string, grid, block Dim3, smem int, params []byte) error
	sync() error
	// run calls fn, whose calls of the other methods may then skip
	// per-call overhead (one hop to the context thread for the lot).
	run(fn func() error) error
	sms() int     // multiprocessors: sizes grid-stride launches
	maxSmem() int // largest dynamic shared memory of one block, bytes
}

// engineOpts tune launch shapes (never results: every choice gives the
// same bits on the consensus path).
type engineOpts struct {
	fwhtTileLog2 uint32 // largest FWHT tile, log2 floats (<= 15)
	fwhtColLog2  uint32 // log2 columns of a tile in the passes after the first
	fwhtSmemOnly bool   // never use fwht_pass_reg (tests)
	topkCap      int    // capacity of the level-2 candidate list
	sparseSmem   int    // largest private sparse sketch in shared memory, bytes
	blocksPerSM  int    // grid-stride launches: blocks of 256 threads per SM
	selectBlock  int    // threads of the one-block top-k kernels (a power of two <= 1024)
}

func defaultEngineOpts(maxSmem int) engineOpts {
	o := engineOpts{fwhtTileLog2: 13, fwhtColLog2: 3, topkCap: 1 << 20, sparseSmem: 48 << 10, blocksPerSM: 8, selectBlock: topkSelectBlock}
	for o.fwhtTileLog2 < 15 && 4<<(o.fwhtTileLog2+1) <= maxSmem {
		o.fwhtTileLog2++
	}
	if maxSmem >= 96<<10 {
		o.sparseSmem = 96 << 10
	}
	return o
}

type dbuf struct {
	p DevicePtr
	n int64
}

// engine runs the sketch kernels on a kdev. Not safe for concurrent use:
// its owners (SketchBackend, Applier) serialize.
type engine struct {
	dev  kdev
	opts engineOpts
	bufs map[string]dbuf
}

func newEngine(dev kdev) *engine {
	return &engine{dev: dev, opts: defaultEngineOpts(dev.maxSmem()), bufs: map[string]dbuf{}}
}

// upload copies v into the scratch buffer "in" and returns it.
func (e *engine) upload(v []float32) (DevicePtr, error) {
	p, err := e.buf("in", int64(4*len(v)))
	if err != nil {
		return 0, err
	}
	return p, e.dev.upload(p, f32bytes(v))
}

// buf returns the scratch buffer name with at least bytes bytes (reused
// across calls; contents undefined).
func (e *engine) buf(name string, bytes int64) (DevicePtr, error) {
	bytes = max(bytes, 256)
	if b, ok := e.bufs[name]; ok {
		if b.n >= bytes {
			return b.p, nil
		}
		delete(e.bufs, name)
		if err := e.dev.free(b.p); err != nil {
			return 0, err
		}
	}
	bytes = (bytes + 255) &^ 255
	p, err := e.dev.alloc(bytes)
	if err != nil {
		return 0, err
	}
	e.bufs[name] = dbuf{p: p, n: bytes}
	return p, nil
}

func (e *engine) close() error {
	var first error
	for name, b := range e.bufs {
		if err := e.dev.free(b.p); err != nil && first == nil {
			first = err
		}
		delete(e.bufs, name)
	}
	return first
}

// grid is the block count of a grid-stride launch over n items.
func (e *engine) grid(n uint64, block int) int {
	need := (n + uint64(block) - 1) / uint64(block)
	most := uint64(max(1, e.dev.sms()*e.opts.blocksPerSM*256/block))
	return int(max(1, min(need, most)))
}

func (e *engine) launch(name string, grid, block, smem int, p []byte) error {
	return e.dev.launch(name, Dim3{X: grid}, Dim3{X: block}, smem, p)
}

func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// readWord downloads one 32-bit word.
func (e *engine) readWord(p DevicePtr) (uint32, error) {
	var b [4]byte
	if err := e.dev.download(b[:], p); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// ---------------------------------------------------------------- de-sketch

// transpose writes u = Sᵀy (the linear de-sketch) through o.
func (e *engine) transpose(g *geom, y DevicePtr, o out) error {
	switch g.cfg.Family {
	case sketch.Identity:
		return e.update(y, 0, g.d, o)
	case sketch.CountSketch, sketch.SparseEmbedding1, sketch.SparseEmbedding2:
		return e.launch(kDsSparse, e.grid(g.d, 256), 256, 0, dsArgs(g, o, y, 0, 0))
	case sketch.Gaussian:
		return e.launch(kDsGauss, int((g.d+dsGaussTile-1)/dsGaussTile), dsGaussTile, 0, dsArgs(g, o, y, 0, 0))
	case sketch.AMS:
		return e.launch(kDsAMS, e.grid(g.words*32, 256), 256, 0, dsArgs(g, o, y, 0, 0))
	case sketch.SRHT:
		return e.srht(g, false, 0, y, o)
	}
	return invalid("sketch family %v", g.cfg.Family)
}

// desketch writes the consensus de-sketch of y (sketch.Desketch) through o:
// the transpose, or for CountSketch with TopK > 0 the median estimate, the
// top-k mask and the update.
func (e *engine) desketch(g *geom, y DevicePtr, o out) error {
	if g.cfg.TopK == 0 {
		return e.transpose(g, y, o)
	}
	u, err := e.buf("u", int64(4*g.d))
	if err != nil {
		return err
	}
	k := uint64(g.cfg.TopK)
	if k >= g.d {
		if err := e.estimate(g, y, u, 0); err != nil {
			return err
		}
		return e.update(u, 0, g.d, o)
	}
	hist1, err := e.buf("topk.hist1", 4*topkBins1)
	if err != nil {
		return err
	}
	if err := e.dev.memset32(hist1, 0, topkBins1); err != nil {
		return err
	}
	if err := e.estimate(g, y, u, hist1); err != nil {
		return err
	}
	st, err := e.topk(u, g.d, k, true)
	if err != nil {
		return err
	}
	return e.update(u, st, g.d, o)
}

// estimate writes the median estimates of y to u; with hist1 != 0 it also
// counts their level-1 top-k histogram.
func (e *engine) estimate(g *geom, y, u, hist1 DevicePtr) error {
	return e.launch(kDsEstimate, e.grid(g.d, 256), 256, 0, dsArgs(g, out{}, y, u, hist1))
}

// update writes u (zeroed where the top-k state st, if any, drops it)
// through o.
func (e *engine) update(u, st DevicePtr, n uint64, o out) error {
	a := apArgs{o: o, u: u, st: st, n: uint32(n)}
	return e.launch(kApUpdate, e.grid(n, 256), 256, 0, a.pack())
}

// topk finds the top-k state of the n values at u (0 < k < n) and returns
// it in device memory. With hist1Done the level-1 histogram is already in
// the "topk.hist1" buffer (fused into ds_estimate).
func (e *engine) topk(u DevicePtr, n, k uint64, hist1Done bool) (DevicePtr, error) {
	if k == 0 || k >= n {
		return 0, invalid("topk %d of %d", k, n)
	}
	var err error
	a := topkArgs{u: u, n: uint32(n), cap: uint32(e.opts.topkCap), chunkLen: topkChunk}
	nchunks := (n + topkChunk - 1) / topkChunk
	if a.st, err = e.buf("topk.state", 32); err != nil {
		return 0, err
	}
	if a.hist1, err = e.buf("topk.hist1", 4*topkBins1); err != nil {
		return 0, err
	}
	if a.hist2, err = e.buf("topk.hist2", 4*topkBins2); err != nil {
		return 0, err
	}
	if a.list, err = e.buf("topk.list", int64(4*e.opts.topkCap)); err != nil {
		return 0, err
	}
	if a.chunks, err = e.buf("topk.chunks", int64(4*nchunks)); err != nil {
		return 0, err
	}
	var st [32]byte
	binary.LittleEndian.PutUint32(st[:], uint32(k))
	if err := e.dev.upload(a.st, st[:]); err != nil {
		return 0, err
	}
	if err := e.dev.memset32(a.hist2, 0, topkBins2); err != nil {
		return 0, err
	}
	if !hist1Done {
		if err := e.dev.memset32(a.hist1, 0, topkBins1); err != nil {
			return 0, err
		}
		if err := e.launch(kTopkHist1, e.grid(n, 256), 256, 0, a.pack()); err != nil {
			return 0, err
		}
	}
	a.level = 1
	if err := e.launch(kTopkSelect, 1, e.opts.selectBlock, 0, a.pack()); err != nil {
		return 0, err
	}
	if err := e.launch(kTopkPass2, e.grid(n, 256), 256, 0, a.pack()); err != nil {
		return 0, err
	}
	a.level = 2
	if err := e.launch(kTopkSelect, 1, e.opts.selectBlock, 0, a.pack()); err != nil {
		return 0, err
	}
	if err := e.launch(kTopkTies, 1, e.opts.selectBlock, 0, a.pack()); err != nil {
		return 0, err
	}
	// Only after an overflowing candidate list do these two do any work.
	if err := e.launch(kTopkTieCount, int(nchunks), 256, 0, a.pack()); err != nil {
		return 0, err
	}
	if err := e.launch(kTopkTieFind, 1, 32, 0, a.pack()); err != nil {
		return 0, err
	}
	return a.st, nil
}

// ---------------------------------------------------------------- SRHT

// fwRegLog2 is log2 of the values per thread of fwht_pass_reg (FW_LR).
const fwRegLog2 = 5

// fwPass is one fwht_pass launch: stages s0..s0+k-1, 2^c columns per tile.
type fwPass struct{ s0, k, c uint32 }

// fwhtPlan splits the L stages of a 2^L transform into passes: the first
// on contiguous tiles of up to 2^tile floats, the rest on tiles of 2^cols
// columns (c <= s0 always holds).
func fwhtPlan(L, tile, cols uint32) []fwPass {
	k1 := min(L, tile)
	plan := []fwPass{{0, k1, 0}}
	for s0 := k1; s0 < L; {
		c := min(cols, s0)
		k := min(L-s0, tile-c)
		plan = append(plan, fwPass{s0, k, c})
		s0 += k
	}
	return plan
}

// srhtLink builds, for the sampled rows of g, the position bitmap and
// per-position row lists (fwht.cu).
func (e *engine) srhtLink(g *geom) (head, next, bitmap DevicePtr, err error) {
	words := (g.pad + 31) / 32
	if bitmap, err = e.buf("srht.bits", int64(4*words)); err != nil {
		return
	}
	if head, err = e.buf("srht.head", int64(4*g.pad)); err != nil {
		return
	}
	if next, err = e.buf("srht.next", int64(4*g.m)); err != nil {
		return
	}
	if err = e.dev.memset32(bitmap, 0, int(words)); err != nil {
		return
	}
	a := fwArgs{head: head, next: next, bits: bitmap}
	p := a.pack(g)
	if err = e.launch(kSrhtLinkInit, e.grid(g.m, 256), 256, 0, p); err != nil {
		return
	}
	err = e.launch(kSrhtLink, e.grid(g.m, 256), 256, 0, p)
	return
}

// srht runs the SRHT forward (x -> y, forward true) or transpose (y -> o).
func (e *engine) srht(g *geom, forward bool, x, y DevicePtr, o out) error {
	head, next, bitmap, err := e.srhtLink(g)
	if err != nil {
		return err
	}
	z, err := e.buf("srht.z", int64(4*g.pad))
	if err != nil {
		return err
	}
	plan := fwhtPlan(g.log2pad, e.opts.fwhtTileLog2, e.opts.fwhtColLog2)
	zlimit := uint32(g.pad)
	for i, ps := range plan {
		first, last := i == 0, i == len(plan)-1
		a := fwArgs{o: o, src: z, z: z, x: x, y: y, dst: y, head: head, next: next, bits: bitmap,
			s0: ps.s0, k: ps.k, c: ps.c, zlimit: zlimit}
		tiles := uint64(1) << (g.log2pad - ps.k - ps.c)
		switch {
		case first && forward:
			a.inMode = fwInSigned
			if !last {
				// Tiles past d are all zeros: not written, read as +0.
				tiles = (g.d + (1 << ps.k) - 1) >> ps.k
				zlimit = uint32(tiles << ps.k)
			}
		case first:
			a.inMode = fwInGather
		default:
			a.inMode = fwInPlain
			zlimit = uint32(g.pad)
		}
		switch {
		case last && forward:
			a.outMode = fwOutSample
		case last:
			a.outMode = fwOutFinal
		default:
			a.outMode = fwOutPlain
		}
		tile := 1 << (ps.k + ps.c)
		fn, block, smem := kFwhtPass, min(1024, max(32, tile/4)), 4*tile
		if ps.k >= fwRegLog2 && !e.opts.fwhtSmemOnly {
			// 32 values per thread; the tile padded by one float per 32.
			fn, block, smem = kFwhtPassReg, tile>>fwRegLog2, 4*(tile+tile/32)
		}
		if err := e.launch(fn, int(tiles), block, smem, a.pack(g)); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- forward

// forward writes y = S·x (the worker's sketch; exact for Identity and SRHT,
// the others sum in another order than the CPU).
func (e *engine) forward(g *geom, x, y DevicePtr) error {
	switch g.cfg.Family {
	case sketch.Identity:
		return e.dev.copyDtoD(y, x, int64(4*g.d))
	case sketch.SRHT:
		return e.srht(g, true, x, y, out{})
	case sketch.CountSketch, sketch.SparseEmbedding1, sketch.SparseEmbedding2:
		if err := e.dev.memset32(y, 0, int(g.m)); err != nil {
			return err
		}
		p := skArgs(g, x, y, 0, 0, 0)
		if smem := int(4 * g.m); smem <= e.opts.sparseSmem && smem <= e.dev.maxSmem() {
			return e.launch(kSkSparseShared, max(1, e.dev.sms()), 1024, smem, p)
		}
		return e.launch(kSkSparseGlobal, e.grid(g.d, 256), 256, 0, p)
	case sketch.Gaussian, sketch.AMS:
		var ntiles uint64
		fn := kSkGaussFwd
		if g.cfg.Family == sketch.Gaussian {
			ntiles = (g.d + skGaussCols - 1) / skGaussCols
		} else {
			fn = kSkAMSFwd
			ntiles = (g.words + skAMSWords - 1) / skAMSWords
		}
		if ntiles*g.m > 1<<27 {
			return invalid("%v forward of %d rows over %d columns: partial sums exceed 1 GiB", g.cfg.Family, g.m, g.d)
		}
		partial, err := e.buf("fwd.partial", int64(8*ntiles*g.m))
		if err != nil {
			return err
		}
		const maxY = 65535
		for row0 := uint64(0); row0 < g.m; row0 += maxY * skRows {
			gy := min((g.m-row0+skRows-1)/skRows, maxY)
			p := skArgs(g, x, y, partial, uint32(ntiles), uint32(row0))
			if err := e.dev.launch(fn, Dim3{X: int(ntiles), Y: int(gy)}, Dim3{X: 256}, 0, p); err != nil {
				return err
			}
		}
		return e.launch(kSkReduceRows, e.grid(g.m, 256), 256, 0, skArgs(g, x, y, partial, uint32(ntiles), 0))
	}
	return invalid("sketch family %v", g.cfg.Family)
}

// ---------------------------------------------------------------- payloads

// quantize encodes the m values at y as cfg's payload at payload; a
// non-finite value sets the word at flag (zeroed by the caller).
func (e *engine) quantize(cfg sketch.Config, y, payload, flag DevicePtr) error {
	m := uint64(cfg.Rows)
	a := qArgs{y: y, payload: payload, flag: flag, m: uint32(m), bits: uint32(cfg.QuantBits)}
	if cfg.QuantBits == 32 {
		return e.launch(kQRaw, e.grid(m, 256), 256, 0, a.pack())
	}
	a.block = uint32(cfg.QuantBlock)
	a.nblocks = uint32((m + uint64(cfg.QuantBlock) - 1) / uint64(cfg.QuantBlock))
	if cfg.QuantBits == 4 {
		var err error
		if a.codes, err = e.buf("quant.codes", int64(m)); err != nil {
			return err
		}
	}
	grid := min(int(a.nblocks), max(1, e.dev.sms()*e.opts.blocksPerSM))
	if err := e.launch(kQQuantize, grid, 256, 0, a.pack()); err != nil {
		return err
	}
	if cfg.QuantBits == 4 {
		return e.launch(kQPack4, e.grid((m+1)/2, 256), 256, 0, a.pack())
	}
	return nil
}

// payloadStride is the distance of consecutive payloads in the aggregate's
// staging buffer: 16-byte aligned so that every payload's scales are.
func payloadStride(cfg sketch.Config) int { return (sketch.PayloadSize(cfg) + 15) &^ 15 }

// uploadPayloads copies payloads (each PayloadSize(cfg) bytes) to the
// device, payloadStride apart.
func (e *engine) uploadPayloads(cfg sketch.Config, payloads [][]byte) (DevicePtr, error) {
	stride := payloadStride(cfg)
	dev, err := e.buf("agg.payloads", int64(stride*len(payloads)))
	if err != nil {
		return 0, err
	}
	host := make([]byte, stride*len(payloads))
	for i, p := range payloads {
		copy(host[i*stride:], p)
	}
	return dev, e.dev.upload(dev, host)
}

// aggregate decodes the payloads at dev into agg: their sum in order from
// +0 (op aggSum, Apply) or the first one (op aggFirst, Dequantize). A
// non-finite result sets the word at flag.
func (e *engine) aggregate(cfg sketch.Config, dev DevicePtr, n int, op uint32, agg, flag DevicePtr) error {
	m := uint64(cfg.Rows)
	a := qArgs{payloads: dev, agg: agg, flag: flag, m: uint32(m), bits: uint32(cfg.QuantBits),
		n: uint32(n), op: op, pstride: uint64(payloadStride(cfg))}
	if cfg.QuantBits != 32 {
		a.block = uint32(cfg.QuantBlock)
		a.nblocks = uint32((m + uint64(cfg.QuantBlock) - 1) / uint64(cfg.QuantBlock))
	}
	return e.launch(kQDequantAgg, e.grid(m, 256), 256, 0, a.pack())
}

// combine is ef_combine over n values: dst = a + b, a - b or a; a
// non-finite result sets the word at flag.
func (e *engine) combine(op uint32, dst, a, b DevicePtr, n uint64, flag DevicePtr) error {
	q := qArgs{a: a, b: b, out: dst, flag: flag, m: uint32(n), op: op}
	return e.launch(kEfCombine, e.grid(n, 256), 256, 0, q.pack())
}

// ---------------------------------------------------------------- state root

// leaves hashes the state-root leaves of the n weights at w with chunk
// floats per leaf (state.Root) and returns them, 32 bytes each.
func (e *engine) leaves(w DevicePtr, n, chunk int) ([]byte, error) {
	nl := (n + chunk - 1) / chunk
	if nl == 0 {
		return nil, nil
	}
	dev, err := e.buf("root.leaves", int64(32*nl))
	if err != nil {
		return nil, err
	}
	a := apArgs{w: w, leaves: dev, n: uint32(n), chunk: uint32(chunk), nleaves: uint32(nl)}
	if err := e.launch(kApLeaf, (nl+leafBlock-1)/leafBlock, leafBlock, 0, a.pack()); err != nil {
		return nil, err
	}
	host := make([]byte, 32*nl)
	return host, e.dev.download(host, dev)
}
