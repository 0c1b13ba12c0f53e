// Package sim is an in-process federated simulation of GradientCoin
// training: N workers × R rounds through the real consensus path
// (state.MakeContribution → encoded contributions → state.Apply, with
// chain/sketch's sketches seeded by a simulated chain of parent hashes).
//
// # Contract
//
//   - Paper mode: each round one worker, drawn with probability proportional
//     to its hash power, trains K local steps and its sketched update is the
//     block's only contribution (the GradientCoin paper's protocol).
//   - Pooled mode: every worker trains and contributes; Apply de-sketches
//     the sum and scales it by GlobalLR/n.
//   - Every worker keeps its error-feedback residual between rounds (used by
//     the count-sketch top-k family; Config.NoErrorFeedback drops it) and its
//     local optimizer. Config.PreTopK makes workers sparsify Δ + residual
//     exactly before sketching (worker-side error feedback), which count-
//     sketch heavy-hitter recovery needs: on a dense update its recovery
//     error exceeds the update and plain error feedback diverges.
//   - Config.BlockResidual (count-sketch top-k, pooled mode) recomputes each
//     worker's residual after the block against the coordinates the
//     block's recovery of the SUMMED sketches kept (v − v|_J), instead of
//     against the recovery of its own sketch alone, which is not what
//     Apply applied; without it pooled heavy-hitter recovery diverges.
//   - The chunked top-k families need no option: their aggregate is
//     linear in the payloads, so state.MakeContribution's residual is
//     exact. Config.ResidualDecay makes error feedback leaky (DeMo-style
//     decay of the untransmitted part).
//   - Run reports, per round, the contributors, the mean local training
//     loss, the caller's evaluation (a loss curve), the state root and the
//     bytes sent; two runs with the same arguments give identical roots.
//
// Workers run sequentially; the package is silent and never panics on bad
// input.
//
// # Errors
//
// ErrBadConfig (invalid rules, mode, worker list or shapes), ErrCanceled
// (the context ended the run; the partial Result is returned), and wrapped
// errors of chain/state and worker/train.
package sim
