//go:build gccuda

package node

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/gpu"
	"github.com/gradientcoin/gradientcoin/worker/miner"
)

// CUDABuild reports whether this binary was built with the gccuda tag.
const CUDABuild = true

// openDevice in the gccuda build: with UseGPU, the first GPU that passes
// its self-test mines, and a sketch backend on GPU 0 de-sketches Apply
// (bit-identical to the CPU reference; self-tested). The model's attention
// softmax uses the GPU on its own (worker/model).
func openDevice(cfg *Config, log zerolog.Logger) (*device, error) {
	d := &device{}
	if !cfg.UseGPU {
		return d, nil
	}
	gpus, err := miner.OpenGPUs(log.With().Str("module", "gpu").Logger(), gpu.SearchOptions{})
	if err != nil {
		return nil, fmt.Errorf("node: gpu: %w", err)
	}
	g := gpus[0]
	for _, extra := range gpus[1:] {
		extra.Close()
	}
	d.solver, d.hashes = g, g.Hashes
	d.closers = append(d.closers, g.Close)
	d.desc = g.Device().String()
	c, err := gpu.NewContext(g.Device().Ordinal)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("node: gpu sketch backend: %w", err)
	}
	b, err := gpu.NewSketchBackend(c)
	if err == nil {
		err = b.SelfTest()
	}
	if err != nil {
		if b != nil {
			b.Close()
		}
		c.Close()
		d.close()
		return nil, fmt.Errorf("node: gpu sketch backend: %w", err)
	}
	d.backend = b
	d.closers = append(d.closers, c.Close, b.Close)
	return d, nil
}
