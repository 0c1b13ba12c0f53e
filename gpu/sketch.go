package gpu

import (
	"crypto/ed25519"
	"fmt"
	"math"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// SketchBackend runs chain/sketch's operations on a GPU (kernels sketch,
// desketch, fwht, topk, quant, apply). Make one with NewSketchBackend; it
// is safe for concurrent use (calls are serialized). In the default build
// NewSketchBackend returns ErrNoCUDA: callers then use chain/sketch and
// chain/state directly (state.Apply, state.MakeContribution), which compute
// the same consensus bits. A worker built with gccuda should run SelfTest
// once per device before trusting it with consensus work.
//
// Consensus operations give exactly the bits of the CPU reference:
// Desketch, Transpose, Estimate (the de-sketch of every family, heavy-hitter
// recovery included), TopK and Quantize. It implements state.Backend, so
//
//	state.ApplyWith(b, rules, w, parent, contributions)
//
// validates a block with the de-sketch on the GPU and the rest on the CPU.
// For the whole of Apply on the device (weights resident, state root leaves
// hashed there) use an Applier.
//
// The worker side: Sketch (S·x) is exact for Identity and SRHT; the other
// families sum in another order than the CPU (Gaussian and AMS in float64
// partial sums, the sparse families with float atomics into a private
// sketch), within float rounding of it. MakeContribution is the GPU twin of
// state.MakeContribution (sketch, quantize, sign, error feedback).
type SketchBackend struct {
	mu     sync.Mutex
	e      *engine
	closed bool
	own    func() error // releases what the constructor made (stream)
}

var _ state.Backend = (*SketchBackend)(nil)

func newSketchBackend(dev kdev, release func() error) *SketchBackend {
	return &SketchBackend{e: newEngine(dev), own: release}
}

// Close frees the backend's device buffers.
func (b *SketchBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.e.close()
	if b.own != nil {
		if e := b.own(); err == nil {
			err = e
		}
	}
	return err
}

func (b *SketchBackend) lock() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// locked runs fn holding the backend's lock, as one device sequence.
func (b *SketchBackend) locked(fn func() error) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	return b.e.dev.run(fn)
}

func checkLens(s *sketch.Sketch, dstLen, dstWant, srcLen, srcWant int) error {
	if dstLen != dstWant {
		return fmt.Errorf("%w: %s: destination has %d values, want %d", sketch.ErrLength, s.Config().Family, dstLen, dstWant)
	}
	if srcLen != srcWant {
		return fmt.Errorf("%w: %s: source has %d values, want %d", sketch.ErrLength, s.Config().Family, srcLen, srcWant)
	}
	return nil
}

// Desketch sets dst (length d) to the consensus de-sketch of y (length m),
// bit-identical to (*sketch.Sketch).Desketch. It implements state.Backend.
// The chunked top-k families have no kernel: their de-sketch (a copy or a
// per-chunk Walsh–Hadamard transform) runs on the CPU reference.
func (b *SketchBackend) Desketch(s *sketch.Sketch, dst, y []float32) error {
	if s.Config().Family.IsChunked() {
		return s.Desketch(dst, y)
	}
	return b.desketch(s, dst, y, true)
}

// Transpose sets dst (length d) to Sᵀ·y, bit-identical to
// (*sketch.Sketch).Transpose (ErrUnsupported for the chunked top-k
// families, which have no matrix).
func (b *SketchBackend) Transpose(s *sketch.Sketch, dst, y []float32) error {
	if err := unsupported(s.Config().Family, "Transpose"); err != nil {
		return err
	}
	return b.desketch(s, dst, y, false)
}

func (b *SketchBackend) desketch(s *sketch.Sketch, dst, y []float32, recover bool) error {
	if err := checkLens(s, len(dst), s.Dim(), len(y), s.Rows()); err != nil {
		return err
	}
	return b.locked(func() error {
		e := b.e
		g := geomOf(s)
		ud, err := e.buf("out", int64(4*g.d))
		if err != nil {
			return err
		}
		yd, err := e.upload(y)
		if err != nil {
			return err
		}
		o := out{mode: outStore, dst: ud}
		if recover {
			err = e.desketch(&g, yd, o)
		} else {
			err = e.transpose(&g, yd, o)
		}
		if err != nil {
			return err
		}
		return e.dev.download(f32bytes(dst), ud)
	})
}

// Estimate sets dst (length d) to the median estimates of y (sparse
// families), bit-identical to (*sketch.Sketch).Estimate.
func (b *SketchBackend) Estimate(s *sketch.Sketch, dst, y []float32) error {
	if s.Config().NNZ == 0 {
		return fmt.Errorf("%w: %s has no median estimate", sketch.ErrBadConfig, s.Config().Family)
	}
	if err := checkLens(s, len(dst), s.Dim(), len(y), s.Rows()); err != nil {
		return err
	}
	return b.locked(func() error {
		e := b.e
		g := geomOf(s)
		ud, err := e.buf("out", int64(4*g.d))
		if err != nil {
			return err
		}
		yd, err := e.upload(y)
		if err != nil {
			return err
		}
		if err := e.estimate(&g, yd, ud, 0); err != nil {
			return err
		}
		return e.dev.download(f32bytes(dst), ud)
	})
}

// Sketch sets dst (length m) to S·x (x of length d): the worker's forward
// sketch, (*sketch.Sketch).Apply on the GPU (exact for Identity and SRHT,
// within float rounding for the other families).
func (b *SketchBackend) Sketch(s *sketch.Sketch, dst, x []float32) error {
	if err := unsupported(s.Config().Family, "Sketch"); err != nil {
		return err
	}
	if err := checkLens(s, len(dst), s.Rows(), len(x), s.Dim()); err != nil {
		return err
	}
	return b.locked(func() error {
		e := b.e
		g := geomOf(s)
		yd, err := e.buf("out", int64(4*g.m))
		if err != nil {
			return err
		}
		xd, err := e.upload(x)
		if err != nil {
			return err
		}
		if err := e.forward(&g, xd, yd); err != nil {
			return err
		}
		return e.dev.download(f32bytes(dst), yd)
	})
}

// TopK keeps the k entries of v with the largest magnitude and zeroes the
// rest, bit-identical to sketch.TopK.
func (b *SketchBackend) TopK(v []float32, k int) error {
	n := len(v)
	if k >= n {
		return nil
	}
	if k <= 0 {
		clear(v)
		return nil
	}
	return b.locked(func() error {
		e := b.e
		vd, err := e.upload(v)
		if err != nil {
			return err
		}
		st, err := e.topk(vd, uint64(n), uint64(k), false)
		if err != nil {
			return err
		}
		if err := e.update(vd, st, uint64(n), out{mode: outStore, dst: vd}); err != nil {
			return err
		}
		return e.dev.download(f32bytes(v), vd)
	})
}

// Quantize encodes a sketch y (length cfg.Rows) as a payload, byte for byte
// sketch.Quantize.
func (b *SketchBackend) Quantize(cfg sketch.Config, y []float32) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := unsupported(cfg.Family, "Quantize"); err != nil {
		return nil, err
	}
	if len(y) != cfg.Rows {
		return nil, fmt.Errorf("%w: quantize: sketch has %d values, want %d", sketch.ErrLength, len(y), cfg.Rows)
	}
	var payload []byte
	err := b.locked(func() error {
		e := b.e
		yd, err := e.upload(y)
		if err != nil {
			return err
		}
		payload, err = b.quantizeDev(cfg, yd, y)
		return err
	})
	return payload, err
}

// quantizeDev quantizes the sketch at yd; yHost (if not nil) is the same
// values on the host, for the error message.
func (b *SketchBackend) quantizeDev(cfg sketch.Config, yd DevicePtr, yHost []float32) ([]byte, error) {
	e := b.e
	pd, err := e.buf("payload", int64(sketch.PayloadSize(cfg)))
	if err != nil {
		return nil, err
	}
	flag, err := e.buf("flags", 16)
	if err != nil {
		return nil, err
	}
	if err := e.dev.memset32(flag, 0, 4); err != nil {
		return nil, err
	}
	if err := e.quantize(cfg, yd, pd, flag); err != nil {
		return nil, err
	}
	bad, err := e.readWord(flag)
	if err != nil {
		return nil, err
	}
	if bad != 0 {
		if yHost == nil {
			yHost = make([]float32, cfg.Rows)
			if err := e.dev.download(f32bytes(yHost), yd); err != nil {
				return nil, err
			}
		}
		for i, v := range yHost {
			if !isFinite32(v) {
				return nil, fmt.Errorf("%w: quantize: sketch value %d is %v", sketch.ErrNonFinite, i, v)
			}
		}
		return nil, fmt.Errorf("%w: quantize: non-finite sketch value", sketch.ErrNonFinite)
	}
	payload := make([]byte, sketch.PayloadSize(cfg))
	return payload, e.dev.download(payload, pd)
}

func isFinite32(x float32) bool { return math.Float32bits(x)&0x7f800000 != 0x7f800000 }

// contributionVersion is the contribution encoding version that
// state.MakeContribution writes (checked by TestMakeContributionMatchesCPU).
const contributionVersion = 1

// MakeContribution is state.MakeContribution with the sketch, quantization
// and error feedback on the GPU: v = delta + residual, y = S·v, payload =
// Quantize(y), signed; with heavy-hitter recovery the new residual is
// v − Desketch(Dequantize(payload)), else zeros. The payload may differ from
// the CPU's in the last bits of y for the families whose forward sketch is
// not exact (see Sketch); it is a valid contribution either way, and the
// residual is computed from the payload actually sent. The chunked top-k
// families are ErrUnsupported (state.MakeContribution makes them).
func (b *SketchBackend) MakeContribution(r state.Rules, parent [32]byte, delta, residual []float32, key ed25519.PrivateKey, sampleDigest [32]byte) (*state.Contribution, []float32, error) {
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	if err := unsupported(r.Sketch.Family, "MakeContribution (use state.MakeContribution)"); err != nil {
		return nil, nil, err
	}
	d := r.Model.ParamCount()
	if len(delta) != d {
		return nil, nil, fmt.Errorf("%w: delta has %d values, want %d", state.ErrBadWeights, len(delta), d)
	}
	if residual != nil && len(residual) != d {
		return nil, nil, fmt.Errorf("%w: residual has %d values, want %d", state.ErrBadWeights, len(residual), d)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, fmt.Errorf("%w: private key has %d bytes, want %d", state.ErrBadKey, len(key), ed25519.PrivateKeySize)
	}
	sk, err := r.NewSketch(parent)
	if err != nil {
		return nil, nil, err
	}
	var (
		c   *state.Contribution
		res []float32
	)
	err = b.locked(func() error {
		var err error
		c, res, err = b.makeContribution(r, sk, parent, delta, residual, key, sampleDigest)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return c, res, nil
}

// makeContribution is MakeContribution's device part (locked, on the
// context thread).
func (b *SketchBackend) makeContribution(r state.Rules, sk *sketch.Sketch, parent [32]byte, delta, residual []float32, key ed25519.PrivateKey, sampleDigest [32]byte) (*state.Contribution, []float32, error) {
	d := len(delta)
	e := b.e
	g := geomOf(sk)
	vd, err := e.buf("ef.v", int64(4*d))
	if err != nil {
		return nil, nil, err
	}
	tmp, err := e.buf("ef.tmp", int64(4*d))
	if err != nil {
		return nil, nil, err
	}
	yd, err := e.buf("ef.y", int64(4*g.m))
	if err != nil {
		return nil, nil, err
	}
	flag, err := e.buf("flags", 16)
	if err != nil {
		return nil, nil, err
	}
	if err := e.dev.memset32(flag, 0, 4); err != nil {
		return nil, nil, err
	}
	if err := e.dev.upload(tmp, f32bytes(delta)); err != nil {
		return nil, nil, err
	}
	if residual != nil {
		if err := e.dev.upload(vd, f32bytes(residual)); err != nil {
			return nil, nil, err
		}
		err = e.combine(efAdd, vd, tmp, vd, uint64(d), flag)
	} else {
		err = e.combine(efCheck, vd, tmp, 0, uint64(d), flag)
	}
	if err != nil {
		return nil, nil, err
	}
	if bad, err := e.readWord(flag); err != nil {
		return nil, nil, err
	} else if bad != 0 {
		for j := range delta {
			x := delta[j]
			if residual != nil {
				x += residual[j]
			}
			if !isFinite32(x) {
				return nil, nil, fmt.Errorf("%w: update value %d is %v", state.ErrNonFinite, j, x)
			}
		}
		return nil, nil, fmt.Errorf("%w: non-finite update value", state.ErrNonFinite)
	}
	if err := e.forward(&g, vd, yd); err != nil {
		return nil, nil, err
	}
	payload, err := b.quantizeDev(r.Sketch, yd, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("sketch of the update: %w", err)
	}
	c := &state.Contribution{
		Version:      contributionVersion,
		Parent:       parent,
		Sketch:       r.Sketch,
		Dim:          d,
		SampleDigest: sampleDigest,
		Payload:      payload,
	}
	if err := c.Sign(key); err != nil {
		return nil, nil, err
	}
	res := make([]float32, d)
	if r.Sketch.TopK == 0 {
		return c, res, nil
	}
	// u = Desketch(Dequantize(payload)); residual = v - u.
	staged, err := e.uploadPayloads(r.Sketch, [][]byte{payload})
	if err != nil {
		return nil, nil, err
	}
	if err := e.aggregate(r.Sketch, staged, 1, aggFirst, yd, flag); err != nil {
		return nil, nil, err
	}
	if err := e.desketch(&g, yd, out{mode: outStore, dst: tmp}); err != nil {
		return nil, nil, err
	}
	if err := e.combine(efSub, vd, vd, tmp, uint64(d), flag); err != nil {
		return nil, nil, err
	}
	return c, res, e.dev.download(f32bytes(res), vd)
}

// selfTestCases are small sketches of every family (and top-k recovery),
// sized to exercise multi-block launches, SRHT row collisions and several
// transform passes.
var selfTestCases = []struct {
	cfg sketch.Config
	d   int
}{
	{sketch.Config{Family: sketch.CountSketch, Rows: 300, NNZ: 3, TopK: 400, QuantBits: 8, QuantBlock: 64}, 5000},
	{sketch.Config{Family: sketch.CountSketch, Rows: 128, NNZ: 1, QuantBits: 4, QuantBlock: 33}, 4097},
	{sketch.Config{Family: sketch.SparseEmbedding1, Rows: 200, NNZ: 5, QuantBits: 32}, 3000},
	{sketch.Config{Family: sketch.SparseEmbedding2, Rows: 256, NNZ: 4, QuantBits: 8, QuantBlock: 100}, 3000},
	{sketch.Config{Family: sketch.SRHT, Rows: 900, QuantBits: 8, QuantBlock: 128}, 1000},
	{sketch.Config{Family: sketch.SRHT, Rows: 100, QuantBits: 32}, 40000},
	{sketch.Config{Family: sketch.Gaussian, Rows: 20, QuantBits: 32}, 2000},
	{sketch.Config{Family: sketch.AMS, Rows: 40, QuantBits: 8, QuantBlock: 8}, 2000},
	{sketch.Config{Family: sketch.Identity, Rows: 1000, QuantBits: 8, QuantBlock: 256}, 1000},
}

// SelfTest runs known-answer checks of every consensus kernel on the
// backend's device against the CPU reference (chain/sketch, chain/state):
// de-sketch of every family, top-k, quantization and the state root's
// leaves, which must all be bit-identical, and the forward sketch, which
// must be close. Any difference is an ErrSelfTest naming the case; a device
// that fails must not be used for consensus.
func (b *SketchBackend) SelfTest() error {
	var seed [32]byte
	copy(seed[:], "gradientcoin/gpu/sketch/selftest")
	rnd := sketch.Key{A: 0x5e1f, B: 0x7e57}
	vec := func(n int, stream uint64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rnd.Normal(stream<<40 | uint64(i))
			if i%17 == 0 {
				v[i] = 0.5 // ties
			}
		}
		return v
	}
	fail := func(what string, cfg sketch.Config, d int, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %s %s d=%d: %w", ErrSelfTest, what, cfg, d, err)
		}
		return fmt.Errorf("%w: %s %s d=%d: differs from the CPU", ErrSelfTest, what, cfg, d)
	}
	for i, tc := range selfTestCases {
		s, err := sketch.New(tc.cfg, tc.d, seed)
		if err != nil {
			return err
		}
		y := vec(tc.cfg.Rows, uint64(2*i))
		want := make([]float32, tc.d)
		got := make([]float32, tc.d)
		if err := s.Desketch(want, y); err != nil {
			return err
		}
		if err := b.Desketch(s, got, y); err != nil || !sameFloats(got, want) {
			return fail("desketch", tc.cfg, tc.d, err)
		}
		if tc.cfg.TopK > 0 {
			if err := s.Transpose(want, y); err != nil {
				return err
			}
			if err := b.Transpose(s, got, y); err != nil || !sameFloats(got, want) {
				return fail("transpose", tc.cfg, tc.d, err)
			}
		}
		wantP, err := sketch.Quantize(tc.cfg, y)
		if err != nil {
			return err
		}
		if gotP, err := b.Quantize(tc.cfg, y); err != nil || string(gotP) != string(wantP) {
			return fail("quantize", tc.cfg, tc.d, err)
		}
		x := vec(tc.d, uint64(2*i+1))
		wantY := make([]float32, tc.cfg.Rows)
		gotY := make([]float32, tc.cfg.Rows)
		if err := s.Apply(wantY, x); err != nil {
			return err
		}
		if err := b.Sketch(s, gotY, x); err != nil || relErr(gotY, wantY) > 1e-5 {
			return fail("sketch", tc.cfg, tc.d, err)
		}
		if tc.cfg.Family == sketch.SRHT && !sameFloats(gotY, wantY) {
			return fail("sketch (exact)", tc.cfg, tc.d, nil)
		}
		if tc.cfg.Family == sketch.CountSketch {
			v := append([]float32(nil), x...)
			copy(want, x)
			sketch.TopK(want, tc.d/7)
			if err := b.TopK(v, tc.d/7); err != nil || !sameFloats(v, want) {
				return fail("topk", tc.cfg, tc.d, err)
			}
		}
	}
	return nil
}

func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// relErr is ‖a − b‖ / ‖b‖ in float64 (NaN in a gives +Inf).
func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		if a[i] != a[i] {
			return math.Inf(1)
		}
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
