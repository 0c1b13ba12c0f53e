package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// commands lists the subcommands in the order help shows them (set in
// init: help refers to it).
var commands []command

func init() {
	commands = []command{
		{"init", "create a data directory (wallet, node key, config)", cmdInit},
		{"run", "run a full node: sync, train, mine, serve the local API", cmdRun},
		{"devnet", "run N local nodes to a height and print a summary (the demo)", cmdDevnet},
		{"status", "show a running node's status (or a status-page URL)", cmdStatus},
		{"wallet", "wallet: address, balance, send, history", cmdWallet},
		{"chain", "chain: show blocks, verify the stored chain by replay", cmdChain},
		{"generate", "generate text with the model at the tip or a height", cmdGenerate},
		{"export", "export the model weights at a height as .safetensors", cmdExport},
		{"gpu", "list CUDA devices and run their self-tests", cmdGPU},
		{"bench", "quick built-in benchmark (hash rate, training, sketch)", cmdBench},
		{"version", "print version, commit, Go version and build tags", cmdVersion},
		{"help", "show help for a command", cmdHelp},
	}
}

// cliEnv is what a command may touch of the process: its streams, its
// environment and its working directory. Tests of the binary go through the
// real process; the indirection keeps every command free of globals.
type cliEnv struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// isTerminal reports whether stderr (logs, progress) is a terminal.
	isTerminal bool
	// stdoutTerminal reports whether stdout is a terminal.
	stdoutTerminal bool
}

func main() {
	env := &cliEnv{
		stdout:         os.Stdout,
		stderr:         os.Stderr,
		getenv:         os.Getenv,
		isTerminal:     isTerminal(os.Stderr),
		stdoutTerminal: isTerminal(os.Stdout),
	}
	// The first SIGINT/SIGTERM cancels the command's context (run shuts
	// down cleanly); a second one exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "gradientcoin: second signal: exiting without a clean shutdown")
		os.Exit(130)
	}()
	code := runMain(ctx, env, os.Args[1:])
	cancel()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad flags or arguments
)

// runMain dispatches args to a command and turns its error into one line
// on stderr and an exit code.
func runMain(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		printUsage(env.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		printUsage(env.stdout)
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	cmd, ok := lookupCommand(name)
	if !ok {
		return report(env, usageErrorf("unknown command %q (run 'gradientcoin help')", name))
	}
	return report(env, cmd.run(ctx, env, args[1:]))
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// report prints err as one line and returns the exit code.
func report(env *cliEnv, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errSilentFailure):
		return exitError
	}
	fmt.Fprintln(env.stderr, "gradientcoin: "+oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

// errSilentFailure is returned by a command that already said what went
// wrong (devnet's summary, chain verify's report) and only needs exit 1.
var errSilentFailure = errors.New("failed")

// oneLine folds a message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "; ")
}

// usageError is a problem with the command line: bad flags, a missing or
// extra argument. It exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `gradientcoin: a full node of a Bitcoin-style network whose blocks train a shared byte-level GPT.

Usage:
  gradientcoin <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command takes -h. Configuration: flags > GRADIENTCOIN_* environment >
<datadir>/config.toml > defaults (see 'gradientcoin help config').

Start here:
  gradientcoin devnet              # 3 local nodes mine 30 blocks, then a summary
  gradientcoin init --network testnet && gradientcoin run --network testnet
`)
}

func cmdHelp(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		printUsage(env.stdout)
		return nil
	}
	if args[0] == "config" {
		fmt.Fprint(env.stdout, configHelp())
		return nil
	}
	c, ok := lookupCommand(args[0])
	if !ok || c.name == "help" {
		return usageErrorf("help: unknown command %q", args[0])
	}
	return c.run(ctx, env, append(append([]string{}, args[1:]...), "-h"))
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errHelp is returned after a command printed its usage for -h.
var errHelp = flag.ErrHelp
