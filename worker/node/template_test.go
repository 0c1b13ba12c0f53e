package node

import (
	"errors"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// oomBackend fails every de-sketch, like a GPU out of memory.
type oomBackend struct{}

func (oomBackend) Desketch(*sketch.Sketch, []float32, []float32) error {
	return errors.New("cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY")
}

// wrongBackend de-sketches on the CPU, then corrupts the result.
type wrongBackend struct{}

func (wrongBackend) Desketch(s *sketch.Sketch, dst, y []float32) error {
	if err := s.Desketch(dst, y); err != nil {
		return err
	}
	dst[len(dst)-1] -= 0.5
	return nil
}

// TestTemplateDeviceFallback: the miner's template carries the state root
// of the CPU reference whatever the device does: a device error falls
// back to the CPU, and a device that computes wrong numbers is caught by
// CheckBlockTemplate (CPU) and overruled, so the node neither stops
// mining blocks with contributions nor mines an invalid one.
func TestTemplateDeviceFallback(t *testing.T) {
	p := testParams(t)
	g, err := chaintest.NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	ref := g.NextBlock("ref", nil, chaintest.Contributions(1))
	cfg := testConfig(p, initDir(t, p), "n")
	cfg.Sync, cfg.Train, cfg.Mine = false, false, false
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tip := n.bc.Tip()
	w := n.bc.Weights()
	for _, c := range []struct {
		name    string
		backend interface {
			Desketch(*sketch.Sketch, []float32, []float32) error
		}
	}{
		{"cpu reference", nil},
		{"device fails (out of memory)", oomBackend{}},
		{"device computes wrong numbers", wrongBackend{}},
	} {
		n.dev.backend = c.backend
		blk, err := n.template(tip, w, ref.Contributions)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if blk.Header.StateRoot != ref.Header.StateRoot {
			t.Fatalf("%s: template state root %s, want the CPU reference's %s", c.name, blk.Header.StateRoot, ref.Header.StateRoot)
		}
		if err := n.bc.CheckBlockTemplate(blk, blk.Header.Timestamp); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}
