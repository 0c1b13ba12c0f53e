// Package data supplies the training text of a GradientCoin worker.
//
// # Contract
//
//   - Load reads any text file or folder (the CLI's --data); FromBytes wraps
//     bytes already in memory. Both split the text deterministically: the
//     first 90% is the training stream, the last 10% the validation stream.
//   - Synthetic generates the built-in default corpus from a seed: templated
//     problems, one per line: by default sort three letters ("s:cab=abc\n")
//     and name the largest ("m:cab=c\n"); optionally also copy, reverse and
//     single-digit addition ("7+5=12\n"). It is
//     made by this project (no foreign text), learnable by a tiny model in a
//     few hundred steps, and has a crisp metric: exact-match accuracy on the
//     answers of the held-out problems (Corpus.ValProblems). Its split is by
//     problem text (IsValProblem), so no held-out problem is ever trained on.
//   - The training stream is cut into pages of PageSize bytes. Shard gives
//     a worker its private pages from its key; AssignPages draws a
//     deterministic set of pages from (seed, worker key) so that validators
//     can later check that a worker trained on its assigned data.
//   - Sampler draws batches of random windows (deterministic given the
//     *rand.Rand passed in); Windows cuts a stream into fixed evaluation
//     batches.
//
// Hashes are SHA-256 with domain-separation prefixes and length-prefixed
// parts, so shard and page assignments are identical on every platform.
// The package is silent and never panics on bad input.
//
// # Errors
//
// ErrEmpty (empty file, folder or split; the message names the file),
// ErrBinary (NUL bytes or more than 1% control bytes; names the file),
// ErrTooLarge (over MaxBytes), ErrBadArgument (bad batch shape, shard count,
// page count or task name), ErrIO (the input could not be read).
package data
