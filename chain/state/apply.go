package state

import (
	"crypto/ed25519"
	"fmt"
	"math"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// MakeContribution is the worker side of a round. Given the local update
// delta (w_K − w_parent) and the error-feedback residual of the previous
// round (nil or zeros at first), it forms v = delta + residual
// (float32 adds), sketches v with the round's sketch (or, for the chunked
// top-k families, sparsifies it with (*sketch.Sketch).Compress),
// quantizes, and signs.
//
// It returns the contribution and the new residual. For the biased
// families (CountSketch with TopK > 0, the chunked top-k families) the new
// residual is v − u, where u is the de-sketch of this contribution's own
// payload, i.e. what the network would apply from it alone before the
// factor GlobalLR/n (error feedback). That factor is deliberately not in
// the residual: Apply adds (GlobalLR/n)·u = (GlobalLR/n)·(delta + e − e'),
// so over rounds the applied total telescopes to (GlobalLR/n)·(Σ delta −
// e_last): GlobalLR is the outer step size of the error-fed updates, as in
// EF-SGD where the step multiplies the gradient before compression (both
// compressors are scale-equivariant, C(ηv) = ηC(v)). Subtracting
// GlobalLR·u instead would feed the (1 − GlobalLR) part back and undo the
// step size over time. For the chunked families the aggregate is linear
// in the payloads, so this residual is exact for the worker's own share of
// every block that includes the contribution; for count-sketch recovery
// the block's top-k is taken of the summed sketches, and a worker's own
// recovery is only an approximation of its share in pooled mode.
//
// For the unbiased linear families the residual is all zeros: feeding
// (I − SᵀS)·v back would add the sketch's variance every round instead of
// correcting a bias. The returned residual does not alias delta or
// residual.
func MakeContribution(r Rules, parent [32]byte, delta, residual []float32, key ed25519.PrivateKey, sampleDigest [32]byte) (*Contribution, []float32, error) {
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	d := r.Model.ParamCount()
	if len(delta) != d {
		return nil, nil, errorf(ErrBadWeights, "delta has %d values, want %d", len(delta), d)
	}
	if residual != nil && len(residual) != d {
		return nil, nil, errorf(ErrBadWeights, "residual has %d values, want %d", len(residual), d)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, errorf(ErrBadKey, "private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	v := make([]float32, d)
	copy(v, delta)
	for j, e := range residual {
		v[j] += e
	}
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, nil, errorf(ErrNonFinite, "update value %d is %v", j, x)
		}
	}
	sk, err := r.NewSketch(parent)
	if err != nil {
		return nil, nil, err
	}
	var payload []byte
	var y []float32
	if r.Sketch.Family.IsChunked() {
		if payload, err = sk.Compress(v); err != nil {
			return nil, nil, fmt.Errorf("sparsifying the update: %w", err)
		}
	} else {
		y = make([]float32, r.Sketch.Rows)
		if err := sk.Apply(y, v); err != nil {
			return nil, nil, err
		}
		if payload, err = sketch.Quantize(r.Sketch, y); err != nil {
			return nil, nil, fmt.Errorf("sketch of the update: %w", err)
		}
	}
	c := &Contribution{
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
	u := make([]float32, d)
	switch {
	case r.Sketch.Family.IsChunked():
		if err := sk.Decode(u, payload); err != nil {
			return nil, nil, err
		}
	case r.Sketch.TopK == 0:
		clear(v)
		return c, v, nil
	default:
		if err := sketch.Dequantize(r.Sketch, y, payload); err != nil {
			return nil, nil, err
		}
		if err := sk.Desketch(u, y); err != nil {
			return nil, nil, err
		}
	}
	for j := range v {
		v[j] -= u[j]
	}
	return c, v, nil
}

// Backend can replace the CPU de-sketch of Apply (a GPU kernel). It must
// produce exactly the bits of (*sketch.Sketch).Desketch; the CPU is the
// reference.
type Backend interface {
	Desketch(s *sketch.Sketch, dst, y []float32) error
}

// Apply applies a block's contributions (encoded, in block order) to the
// weights w of its parent block, whose hash is parent.
//
// Every contribution is checked first (CheckContribution, parent equal to
// parent, at most MaxContributions, no contributor key twice); then
//
//	agg   := m × +0;  agg[i] = float32(agg[i] + v_c[i]) for c in block order
//	u     := Desketch(agg)                (one de-sketch of the sum)
//	coef  := float32(float64(GlobalLR) / float64(n))
//	w'[j] := float32(w[j] + float32(coef·u[j]))
//
// (for the chunked top-k families agg has AggregateLen = nc·C entries and
// each contribution's values add at their indices, see
// sketch.AggregateAdd) and w is overwritten with w' only if every w'[j] is finite. On any error w
// is unchanged. An empty list changes nothing. Apply runs every check of
// CheckContribution itself (signatures are verified in parallel), so a
// caller that already ran CheckContribution pays for the checks twice but
// stays correct. Apply allocates d + AggregateLen floats of scratch.
func Apply(r Rules, w []float32, parent [32]byte, contributions [][]byte) error {
	return ApplyWith(nil, r, w, parent, contributions)
}

// ApplyWith is Apply with the de-sketch done by b (nil: the CPU reference).
func ApplyWith(b Backend, r Rules, w []float32, parent [32]byte, contributions [][]byte) error {
	if err := r.Validate(); err != nil {
		return err
	}
	d := r.Model.ParamCount()
	if len(w) != d {
		return errorf(ErrBadWeights, "weights have %d values, want %d", len(w), d)
	}
	n := len(contributions)
	if n == 0 {
		return nil
	}
	if n > r.MaxContributions {
		return errorf(ErrTooManyContributions, "%d contributions, limit %d", n, r.MaxContributions)
	}
	cs, err := verifyAll(r, contributions)
	if err != nil {
		return err
	}
	seen := make(map[[32]byte]int, n)
	for i, c := range cs {
		if c.Parent != parent {
			return errorf(ErrWrongParent, "contribution %d is for parent %x, block parent is %x", i, c.Parent[:8], parent[:8])
		}
		if k, dup := seen[c.PubKey]; dup {
			return errorf(ErrDuplicateContributor, "contributions %d and %d are both by %x", k, i, c.PubKey[:8])
		}
		seen[c.PubKey] = i
	}
	agg := make([]float32, sketch.AggregateLen(r.Sketch))
	for i, c := range cs {
		if err := sketch.AggregateAdd(r.Sketch, agg, c.Payload); err != nil {
			return fmt.Errorf("contribution %d: %w", i, err)
		}
	}
	sk, err := r.NewSketch(parent)
	if err != nil {
		return err
	}
	u := make([]float32, d)
	if b != nil {
		if err := b.Desketch(sk, u, agg); err != nil {
			return fmt.Errorf("%w: %w", ErrBackend, err)
		}
	} else if err := sk.Desketch(u, agg); err != nil {
		return err
	}
	coef := float32(float64(r.GlobalLR) / float64(n))
	var mu sync.Mutex
	bad := -1
	sketch.ParallelFor(d, 1<<15, func(lo, hi int) {
		first := -1
		for j := lo; j < hi; j++ {
			nw := w[j] + float32(coef*u[j])
			if math.Float32bits(nw)&0x7f800000 == 0x7f800000 && first < 0 {
				first = j
			}
			u[j] = nw
		}
		if first >= 0 {
			mu.Lock()
			if bad < 0 || first < bad {
				bad = first
			}
			mu.Unlock()
		}
	})
	if bad >= 0 {
		return errorf(ErrNonFinite, "update makes weight %d non-finite (%v + %v·update)", bad, w[bad], coef)
	}
	copy(w, u)
	return nil
}

// verifyAll decodes and checks every contribution (in parallel); the error
// reported is the one of the lowest index.
func verifyAll(r Rules, raws [][]byte) ([]*Contribution, error) {
	cs := make([]*Contribution, len(raws))
	errs := make([]error, len(raws))
	sketch.ParallelFor(len(raws), 1, func(lo, hi int) {
		scratch := make([]float32, r.Sketch.Rows)
		for i := lo; i < hi; i++ {
			cs[i], errs[i] = verifyContribution(r, raws[i], scratch)
		}
	})
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("contribution %d: %w", i, err)
		}
	}
	return cs, nil
}
