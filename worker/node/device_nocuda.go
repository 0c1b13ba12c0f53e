//go:build !gccuda

package node

import (
	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/gpu"
)

// CUDABuild reports whether this binary was built with the gccuda tag.
const CUDABuild = false

// openDevice in the default build: the CPU solver (set up by Open), the
// CPU de-sketch; UseGPU is refused.
func openDevice(cfg *Config, _ zerolog.Logger) (*device, error) {
	if cfg.UseGPU {
		return nil, errorf(ErrConfig, "--gpu: %v", gpu.ErrNoCUDA)
	}
	return &device{}, nil
}
