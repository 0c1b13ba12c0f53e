package node

import (
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/miner"
)

// device is what the node computes with: the proof-of-work solver, the
// de-sketch backend for Apply (nil: the CPU reference) and a description
// for Status ("cpu x2 threads (sha-ni)" or the GPU's name).
type device struct {
	solver  miner.Solver
	hashes  func() uint64 // the solver's live hash counter
	backend state.Backend
	desc    string
	closers []func() error
}

func (d *device) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}
