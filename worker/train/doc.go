// Package train is local training for a GradientCoin worker: K optimizer
// steps from given weights (a parent block's), evaluation and sampling.
//
// # Contract
//
//   - Optimizer: SGD (the paper's local step; optional momentum and L2) and
//     AdamW (bias-corrected Adam with decoupled weight decay on the entries
//     a mask selects, model.DecayMask), with optional global-norm clipping.
//   - Objective: what is minimised, drawing its own batch from a *rand.Rand
//     (GPTObjective: a model.GPT on a data.Sampler; RegressionObjective: the
//     full-batch softmax-regression loss). Steps and Local run K steps;
//     given the same weights, optimizer state and seed they produce the same
//     bits (every kernel has a fixed summation order).
//   - EvalLoss (mean loss over fixed batches, e.g. data.Windows of the
//     validation stream) and ExactMatch (share of synthetic problems whose
//     whole answer is the model's greedy prediction) measure progress.
//   - StepsContext, LocalContext and EvalLossContext stop once their
//     context is done (between steps or batches, and inside a GPT's pass
//     between operators) with an error matching ctx.Err().
//   - Generate continues a prompt with temperature and top-k sampling from a
//     seeded generator (temperature ≤ 0: greedy).
//
// The package is silent and never panics on bad input.
//
// # Errors
//
// ErrBadConfig (optimizer, sampling or evaluation settings out of range),
// ErrShape (lengths that do not match), ErrNonFinite (NaN/Inf gradients);
// errors of worker/model (model.ErrBadInput, model.ErrNonFinite, …) and
// worker/data pass through wrapped.
package train
