// Package state holds GradientCoin's consensus model state: the training
// rules, the genesis weights, the state root, contributions (the signed,
// sketched updates workers put in blocks), Apply (the block's update of the
// weights) and weight checkpoints.
//
// # Contract
//
// Everything here is consensus-critical: pure functions of their
// arguments, bit-identical on every platform, standard library only (plus
// chain/sketch), no mutable globals, no I/O, no dependence on goroutine
// scheduling (parallel loops only split work whose every output element is
// computed in a fixed order by one goroutine; parallel reductions are over
// integers or hashes of a fixed tree).
//
//   - Genesis(r) → the initial weights (seeded, see Genesis).
//   - Root(w, chunk) → the state root every header commits to.
//   - CheckContribution(r, raw) → the context-free checks of one
//     contribution; Apply(r, w, parent, raws) → the block's update.
//   - MakeContribution → the worker side (sketch, quantize, sign, error
//     feedback); not consensus, but deterministic. For the chunked top-k
//     families (sketch.ChunkTopK, ChunkTopKWHT) it sparsifies instead of
//     sketching, and because Apply's aggregate is linear in their payloads
//     the residual v − u is exactly what the block did not apply of this
//     worker's update (in units of its delta: Apply scales by GlobalLR/n,
//     so GlobalLR acts as an outer step size on error-fed updates).
//   - EncodeCheckpoint / DecodeCheckpoint → weights on disk or the wire.
//
// # Determinism rules
//
// Floating-point values are float32 (the weights, payloads, aggregates);
// the order of every sum is fixed (block order for the aggregate, the
// sketch package's order for the de-sketch; chunked top-k payloads add at
// their indices in chunk and index order). Go may fuse x*y+z into an FMA
// on some architectures; every product on the consensus path is wrapped in
// an explicit float32(…) conversion, which the Go spec says must round, so
// no fusion happens. No transcendental function is used; the genesis
// Gaussian is chain/sketch's integer Irwin–Hall generator. math.Sqrt is
// correctly rounded by IEEE 754 and is only used for constants.
//
// A block whose aggregate or updated weights would contain NaN or ±Inf is
// invalid (ErrNonFinite); weights therefore stay finite forever.
//
// # Errors
//
// Every error wraps one of the sentinels ErrBadRules, ErrBadWeights,
// ErrBadContribution, ErrContributionTooLarge, ErrParamsMismatch,
// ErrWrongParent, ErrNonFinite, ErrBadSignature, ErrBadKey,
// ErrTooManyContributions, ErrDuplicateContributor, ErrBadCheckpoint,
// ErrBackend or ErrBadModelConfig (and, inside, the chain/sketch sentinels)
// and names the problem; test with errors.Is. Nothing panics on any input.
package state
