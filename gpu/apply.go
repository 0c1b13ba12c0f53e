package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// Applier keeps a network's weights on the GPU and applies blocks to them
// there: the whole of state.Apply (aggregate the payloads in block order,
// de-sketch, scale, add) and the leaf hashes of the state root run on the
// device, bit-identical to the CPU; the contributions' checks (decoding,
// signatures) and the root's tree above the leaves run on the CPU. Make one
// with NewApplier; it is safe for concurrent use (calls are serialized).
//
// Apply has state.Apply's semantics: the same checks and error kinds
// (errors.Is), and the weights change only if every check passes and every
// new weight is finite. Weights stay on the device until Weights copies
// them out. Rules with a chunked top-k sketch are ErrUnsupported (the
// kernels implement the sketch families only; state.Apply applies them).
type Applier struct {
	mu     sync.Mutex
	e      *engine
	r      state.Rules
	d      int
	w, w2  DevicePtr // current weights, and the next ones while applying
	closed bool
	own    func() error
}

func newApplier(dev kdev, release func() error, r state.Rules, w []float32) (*Applier, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := unsupported(r.Sketch.Family, "Applier"); err != nil {
		return nil, fmt.Errorf("%w (apply such blocks with state.Apply)", err)
	}
	d := r.Model.ParamCount()
	if len(w) != d {
		return nil, fmt.Errorf("%w: weights have %d values, want %d", state.ErrBadWeights, len(w), d)
	}
	a := &Applier{e: newEngine(dev), r: r, d: d, own: release}
	var err error
	if a.w, err = dev.alloc(int64(4 * d)); err != nil {
		a.Close()
		return nil, err
	}
	if a.w2, err = dev.alloc(int64(4 * d)); err != nil {
		a.Close()
		return nil, err
	}
	if err := dev.upload(a.w, f32bytes(w)); err != nil {
		a.Close()
		return nil, err
	}
	return a, dev.sync()
}

// Rules returns the rules the Applier applies blocks with.
func (a *Applier) Rules() state.Rules { return a.r }

// Close frees the device weights and buffers.
func (a *Applier) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	err := a.e.close()
	for _, p := range []DevicePtr{a.w, a.w2} {
		if p != 0 {
			if e := a.e.dev.free(p); err == nil {
				err = e
			}
		}
	}
	if a.own != nil {
		if e := a.own(); err == nil {
			err = e
		}
	}
	return err
}

func (a *Applier) lock() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Weights copies the current weights into dst (length d).
func (a *Applier) Weights(dst []float32) error {
	if len(dst) != a.d {
		return fmt.Errorf("%w: destination has %d values, want %d", state.ErrBadWeights, len(dst), a.d)
	}
	return a.locked(func() error {
		return a.e.dev.download(f32bytes(dst), a.w)
	})
}

// SetWeights replaces the weights (e.g. after a reorg or a snapshot).
func (a *Applier) SetWeights(w []float32) error {
	if len(w) != a.d {
		return fmt.Errorf("%w: weights have %d values, want %d", state.ErrBadWeights, len(w), a.d)
	}
	return a.locked(func() error {
		if err := a.e.dev.upload(a.w, f32bytes(w)); err != nil {
			return err
		}
		return a.e.dev.sync()
	})
}

// Root is the state root of the current weights (state.Root with the
// rules' chunk size): leaves hashed on the GPU, the tree on the CPU.
func (a *Applier) Root() ([32]byte, error) {
	chunk := rootChunk(a.r.ChunkSize)
	var leaves []byte
	err := a.locked(func() error {
		var err error
		leaves, err = a.e.leaves(a.w, a.d, chunk)
		return err
	})
	if err != nil {
		return [32]byte{}, err
	}
	return rootFromLeaves(leaves, a.d, chunk), nil
}

// locked runs fn holding the Applier's lock, as one device sequence.
func (a *Applier) locked(fn func() error) error {
	if err := a.lock(); err != nil {
		return err
	}
	defer a.mu.Unlock()
	return a.e.dev.run(fn)
}

// Apply applies a block's contributions (encoded, in block order) to the
// weights; parent is the hash of the block's parent. See state.Apply.
func (a *Applier) Apply(parent [32]byte, contributions [][]byte) error {
	r := a.r
	n := len(contributions)
	if n == 0 {
		return nil
	}
	if n > r.MaxContributions {
		return fmt.Errorf("%w: %d contributions, limit %d", state.ErrTooManyContributions, n, r.MaxContributions)
	}
	cs, err := verifyContributions(r, contributions)
	if err != nil {
		return err
	}
	seen := make(map[[32]byte]int, n)
	for i, c := range cs {
		if c.Parent != parent {
			return fmt.Errorf("%w: contribution %d is for parent %x, block parent is %x", state.ErrWrongParent, i, c.Parent[:8], parent[:8])
		}
		if k, dup := seen[c.PubKey]; dup {
			return fmt.Errorf("%w: contributions %d and %d are both by %x", state.ErrDuplicateContributor, k, i, c.PubKey[:8])
		}
		seen[c.PubKey] = i
	}
	return a.applyChecked(parent, cs)
}

// applyChecked is Apply's device part, for contributions that passed every
// check: aggregate, de-sketch, update, and the swap if all is finite.
func (a *Applier) applyChecked(parent [32]byte, cs []*state.Contribution) error {
	r := a.r
	n := len(cs)
	payloads := make([][]byte, n)
	for i, c := range cs {
		payloads[i] = c.Payload
	}
	sk, err := r.NewSketch(parent)
	if err != nil {
		return err
	}
	return a.locked(func() error {
		e := a.e
		g := geomOf(sk)
		staged, err := e.uploadPayloads(r.Sketch, payloads)
		if err != nil {
			return err
		}
		agg, err := e.buf("agg", int64(4*r.Sketch.Rows))
		if err != nil {
			return err
		}
		flags, err := e.buf("apply.flags", 16)
		if err != nil {
			return err
		}
		if err := e.dev.memset32(flags, 0, 1); err != nil {
			return err
		}
		if err := e.dev.memset32(flags+4, noBadIndex, 1); err != nil {
			return err
		}
		if err := e.aggregate(r.Sketch, staged, n, aggSum, agg, flags); err != nil {
			return err
		}
		coef := float32(float64(r.GlobalLR) / float64(n))
		o := out{mode: outApply, w: a.w, wout: a.w2, bad: flags + 4, coef: coef}
		if err := e.desketch(&g, agg, o); err != nil {
			return err
		}
		var fl [8]byte
		if err := e.dev.download(fl[:], flags); err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(fl[:]) != 0 {
			// The CPU reference names the contribution whose sum overflows.
			cpu := make([]float32, r.Sketch.Rows)
			for i, c := range cs {
				if err := sketch.DequantizeAdd(r.Sketch, cpu, c.Payload); err != nil {
					return fmt.Errorf("contribution %d: %w", i, err)
				}
			}
			return fmt.Errorf("%w: aggregate of the contributions is not finite", state.ErrNonFinite)
		}
		if bad := binary.LittleEndian.Uint32(fl[4:]); bad != noBadIndex {
			var wb [4]byte
			if err := e.dev.download(wb[:], a.w+DevicePtr(4*bad)); err != nil {
				return err
			}
			old := math.Float32frombits(binary.LittleEndian.Uint32(wb[:]))
			return fmt.Errorf("%w: update makes weight %d non-finite (%v + %v·update)", state.ErrNonFinite, bad, old, coef)
		}
		a.w, a.w2 = a.w2, a.w
		return nil
	})
}

// verifyContributions decodes and checks every contribution in parallel
// (state.VerifyContribution); the error reported is the lowest index's.
func verifyContributions(r state.Rules, raws [][]byte) ([]*state.Contribution, error) {
	cs := make([]*state.Contribution, len(raws))
	errs := make([]error, len(raws))
	sketch.ParallelFor(len(raws), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			cs[i], errs[i] = state.VerifyContribution(r, raws[i])
		}
	})
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("contribution %d: %w", i, err)
		}
	}
	return cs, nil
}

// rootChunk clamps a chunk size as state.Root does.
func rootChunk(chunk int) int {
	return min(max(chunk, 1), state.MaxChunkSize)
}

// rootFromLeaves finishes state.Root from its leaf hashes (32 bytes each).
func rootFromLeaves(leaves []byte, n, chunk int) [32]byte {
	level := make([][32]byte, len(leaves)/32)
	for i := range level {
		copy(level[i][:], leaves[32*i:])
	}
	return state.RootFromLeaves(level, uint64(n), uint32(chunk))
}
