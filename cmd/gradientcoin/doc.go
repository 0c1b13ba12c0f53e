// Command gradientcoin makes a computer a full peer of a GradientCoin
// network: a Bitcoin-style chain whose blocks train a shared byte-level
// GPT. One binary:
//
//	gradientcoin init | run | devnet | status | wallet | chain | generate | export | gpu | bench | version | help
//
// `gradientcoin devnet` is the zero-config demo (three nodes on
// 127.0.0.1 mine 30 blocks); `init` then `run` starts a node; the other
// commands talk to a running node's HTTP API (package worker/rpc), or
// open its data directory directly when none runs (see each command's -h).
//
// # Configuration
//
// Every setting comes from a flag, else a GRADIENTCOIN_<NAME> environment
// variable, else <datadir>/config.toml (flat TOML keys; unknown keys are
// errors naming the file, line and key), else its default
// ('gradientcoin help config' lists them). The network is the flag's, the
// environment's, the config file's, else the one an explicit --datadir
// was initialised for, else mainnet; the data directory defaults per OS
// (XDG on Linux, Application Support on macOS, %LOCALAPPDATA% on Windows).
//
// # Output and errors
//
// Results go to stdout (--json where a script wants them), logs and
// progress to stderr (zerolog: console on a terminal, JSON otherwise).
// A failure is one line on stderr, "gradientcoin: <what went wrong>",
// and a non-zero exit: 2 for bad flags or arguments, 1 otherwise (a
// malformed config file, a missing or foreign data directory, an unknown
// network, an overdraft, a tampered chain, ...). Failing commands change
// nothing on disk. `run` stops on SIGINT or SIGTERM: the API first, then
// mining, then the store is flushed and closed; exit 0 (a second signal
// exits at once).
//
// # Files
//
// Besides worker/node's data directory (node.json, chain.db, checkpoints/,
// wallet.json, p2p_identity.key, LOCK), a running node writes .cookie
// (the API token, 0600) and .rpcurl (the API's URL), removed at a clean
// exit, and `init` writes a commented config.toml.
//
// The version and commit shown by `version` and the build-info metric
// come from -ldflags "-X main.version=... -X main.commit=..." or, failing
// that, the module and VCS data the go command stamps into the binary.
package main
