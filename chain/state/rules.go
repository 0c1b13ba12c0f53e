package state

import (
	"errors"
	"fmt"
	"math"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// Errors returned (wrapped, with a description) by this package. Test with
// errors.Is. Errors from chain/sketch are wrapped too, so errors.Is also
// matches sketch.ErrBadConfig, sketch.ErrPayload and sketch.ErrLength.
var (
	// ErrBadRules: a Rules value that does not validate.
	ErrBadRules = errors.New("bad training rules")
	// ErrBadWeights: a weight vector of the wrong length or with non-finite values.
	ErrBadWeights = errors.New("bad weights")
	// ErrBadContribution: a contribution that does not decode: truncated,
	// trailing bytes, unknown version, invalid sketch config, bad payload.
	ErrBadContribution = errors.New("bad contribution")
	// ErrContributionTooLarge: encoded size above Rules.MaxContributionBytes.
	ErrContributionTooLarge = errors.New("contribution too large")
	// ErrParamsMismatch: the contribution's sketch config or dimension
	// differs from the rules.
	ErrParamsMismatch = errors.New("contribution parameters differ from the rules")
	// ErrWrongParent: the contribution was made for another parent block.
	ErrWrongParent = errors.New("contribution for another parent")
	// ErrNonFinite: NaN or ±Inf in a payload, a sum, or the updated weights.
	// It is the same value as sketch.ErrNonFinite.
	ErrNonFinite = sketch.ErrNonFinite
	// ErrBadSignature: the ed25519 signature does not verify.
	ErrBadSignature = errors.New("bad contribution signature")
	// ErrBadKey: a private key of the wrong size.
	ErrBadKey = errors.New("bad private key")
	// ErrTooManyContributions: more than Rules.MaxContributions in a block.
	ErrTooManyContributions = errors.New("too many contributions")
	// ErrDuplicateContributor: two contributions of one block share a key.
	ErrDuplicateContributor = errors.New("duplicate contributor")
	// ErrBadCheckpoint: a weight checkpoint that does not decode or whose
	// root does not match.
	ErrBadCheckpoint = errors.New("bad checkpoint")
	// ErrBackend: a de-sketch backend failed.
	ErrBackend = errors.New("de-sketch backend failed")
)

func errorf(kind error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, a...))
}

// Limits on Rules fields.
const (
	MaxContributionsLimit = 4096      // largest Rules.MaxContributions
	MaxContributionLimit  = 1 << 30   // largest Rules.MaxContributionBytes
	MaxChunkSize          = 1 << 24   // largest state-root chunk, in floats
	MaxLocalSteps         = 1 << 20   // largest Rules.LocalSteps
	MaxLearningRate       = 1 << 10   // largest GlobalLR / LocalLR
	DefaultChunkSize      = 1 << 14   // 64 KiB chunks
	contributionVersion   = uint16(1) // current contribution encoding
)

// Rules are the consensus training parameters of a network (they sit in
// chain.Params). Every validator needs exactly these to replay the weights.
type Rules struct {
	Model  ModelConfig   // model shape; fixes the parameter count d
	Sketch sketch.Config // the sketch every contribution must use

	// InitSeed seeds the genesis weights (see Genesis).
	InitSeed [32]byte

	// GlobalLR scales the aggregate: w += GlobalLR/n · desketch(Σ payloads).
	GlobalLR float32
	// LocalLR and LocalSteps (K) are the workers' local optimizer settings
	// (not checked by Apply, but part of the network's definition).
	LocalLR    float32
	LocalSteps int

	// MaxContributions per block, and the largest encoded contribution.
	MaxContributions     int
	MaxContributionBytes int

	// ChunkSize is the state-root chunk, in floats.
	ChunkSize int
}

// ParamCount is the length d of the weight vector (0 for invalid rules).
func (r Rules) ParamCount() int { return r.Model.ParamCount() }

// Validate checks every field and that the sketch fits the model.
func (r Rules) Validate() error {
	if err := r.Model.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRules, err)
	}
	d := r.Model.ParamCount()
	if err := r.Sketch.ValidateDim(d); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRules, err)
	}
	lr := func(name string, v float32, zeroOK bool) error {
		if math.IsNaN(float64(v)) || v < 0 || v > MaxLearningRate || (!zeroOK && v == 0) {
			return errorf(ErrBadRules, "%s %v out of range (0, %d]", name, v, MaxLearningRate)
		}
		return nil
	}
	if err := lr("global learning rate", r.GlobalLR, false); err != nil {
		return err
	}
	if err := lr("local learning rate", r.LocalLR, true); err != nil {
		return err
	}
	switch {
	case r.LocalSteps < 1 || r.LocalSteps > MaxLocalSteps:
		return errorf(ErrBadRules, "local steps %d out of range [1, %d]", r.LocalSteps, MaxLocalSteps)
	case r.MaxContributions < 1 || r.MaxContributions > MaxContributionsLimit:
		return errorf(ErrBadRules, "max contributions %d out of range [1, %d]", r.MaxContributions, MaxContributionsLimit)
	case r.ChunkSize < 1 || r.ChunkSize > MaxChunkSize:
		return errorf(ErrBadRules, "chunk size %d out of range [1, %d]", r.ChunkSize, MaxChunkSize)
	}
	need := ContributionSize(r.Sketch)
	if r.MaxContributionBytes < need || r.MaxContributionBytes > MaxContributionLimit {
		return errorf(ErrBadRules, "max contribution bytes %d out of range [%d, %d] (a contribution of %s takes %d bytes)",
			r.MaxContributionBytes, need, MaxContributionLimit, r.Sketch, need)
	}
	return nil
}

// NewSketch returns the sketch of the round whose parent block hash is
// parent: config r.Sketch, dimension ParamCount, seed sketch.Seed(parent).
func (r Rules) NewSketch(parent [32]byte) (*sketch.Sketch, error) {
	s, err := sketch.New(r.Sketch, r.Model.ParamCount(), sketch.Seed(parent))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRules, err)
	}
	return s, nil
}

// Root is the state root of weights w under these rules (Root(w, r.ChunkSize)).
func (r Rules) Root(w []float32) [32]byte { return Root(w, r.ChunkSize) }

// DevRules returns small rules for development and tests: a 2-layer,
// 64-wide byte-level GPT (120,576 parameters), count-sketch with 3 tables
// and top-k recovery at about 10× compression, int8 payloads. Networks
// define their own rules in chain.Params; this is a convenient start.
func DevRules() Rules {
	cfg := ModelConfig{Kind: ModelGPT, Vocab: 256, Context: 64, Layers: 2, Width: 64, Heads: 4, MLPMult: 4, InitStd: 0.02}
	r := Rules{
		Model:            cfg,
		Sketch:           sketch.Config{Family: sketch.CountSketch, Rows: 3 * 4096, NNZ: 3, TopK: 4096, QuantBits: 8, QuantBlock: 256},
		InitSeed:         [32]byte{'g', 'r', 'a', 'd', 'i', 'e', 'n', 't', 'c', 'o', 'i', 'n', '/', 'd', 'e', 'v'},
		GlobalLR:         1,
		LocalLR:          1e-3,
		LocalSteps:       8,
		MaxContributions: 16,
		ChunkSize:        DefaultChunkSize,
	}
	r.MaxContributionBytes = ContributionSize(r.Sketch)
	return r
}
