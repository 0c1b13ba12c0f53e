package model

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one
// of them (and, for configs, also chain/state.ErrBadModelConfig), so
// callers can test with errors.Is.
var (
	// ErrBadConfig: the model config is invalid or of the wrong kind.
	ErrBadConfig = errors.New("model: bad config")
	// ErrShape: a tensor or slice has the wrong length or shape (weights,
	// gradients, batches, graph inputs).
	ErrShape = errors.New("model: shape mismatch")
	// ErrBadInput: an input value is out of its domain (a token id outside
	// the vocabulary, a sequence longer than the context, ...).
	ErrBadInput = errors.New("model: bad input")
	// ErrNonFinite: weights or a computed loss contain NaN or ±Inf.
	ErrNonFinite = errors.New("model: non-finite value")
)
