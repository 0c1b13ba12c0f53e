package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// InitWeights draws a flat weight vector for cfg following each tensor's
// InitKind in cfg.Layout() (normal with the tensor's Std, zeros or ones)
// from a PCG generator seeded with seed. It is a worker-side convenience
// for tests and experiments: it uses the platform's libm (math.Log,
// math.Cos via the Box–Muller transform in float64), so it is NOT the
// chain's consensus genesis initialisation, which chain/state owns.
func InitWeights(cfg state.ModelConfig, seed uint64) ([]float32, error) {
	layout, n, err := cfg.Layout()
	if err != nil {
		return nil, badConfig(err)
	}
	w := make([]float32, n)
	rng := rand.New(rand.NewPCG(seed, 0x6772616469656e74))
	for _, t := range layout {
		dst := w[t.Offset : t.Offset+t.Size()]
		switch t.Init {
		case state.InitZeros:
		case state.InitOnes:
			for i := range dst {
				dst[i] = 1
			}
		case state.InitNormal:
			for i := range dst {
				dst[i] = float32(rng.NormFloat64()) * t.Std
			}
		default:
			return nil, fmt.Errorf("%w: tensor %s has unknown init kind %d", ErrBadConfig, t.Name, t.Init)
		}
	}
	return w, nil
}

// DecayMask marks the parameters that weight decay should apply to: the
// entries of matrices (embeddings and weight matrices), not biases or
// layer-norm gains (the usual AdamW practice). For the softmax regression
// every entry is marked.
func DecayMask(cfg state.ModelConfig) ([]bool, error) {
	layout, n, err := cfg.Layout()
	if err != nil {
		return nil, badConfig(err)
	}
	mask := make([]bool, n)
	for _, t := range layout {
		if len(t.Shape) >= 2 || cfg.Kind == state.ModelSoftmaxRegression {
			for i := t.Offset; i < t.Offset+t.Size(); i++ {
				mask[i] = true
			}
		}
	}
	return mask, nil
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
