package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

// TestBadInput: every case exits non-zero with one line on stderr that
// names the problem, nothing on stdout, and leaves the data directory as
// it was.
func TestBadInput(t *testing.T) {
	home := t.TempDir()
	env := testEnv(home)
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base")
	initDir(t, env, base)
	r := cli(t, env, "wallet", "address", "--datadir", base)
	payee := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(payee, "gcdev1") {
		t.Fatalf("wallet address (offline): %s", r)
	}
	// An idle node (nothing mines, trains or connects) for the cases that
	// need a running one: its data directory must not change either.
	idle := filepath.Join(tmp, "idle")
	initDir(t, env, idle)
	startNode(t, env, idle, "--mine=false", "--train=false", "--sync=false")
	missing := filepath.Join(tmp, "missing", "dir")
	// Ports in use: the idle node's API, and a p2p port held here.
	idleAPI, _ := os.ReadFile(filepath.Join(idle, rpc.URLFile))
	apiAddr := strings.TrimPrefix(strings.TrimSpace(string(idleAPI)), "http://")
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	p2pAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", held.Addr().(*net.TCPAddr).Port)
	keepOnly := func(names ...string) func(dir string) {
		return func(dir string) {
			es, _ := os.ReadDir(dir)
			for _, e := range es {
				keep := false
				for _, n := range names {
					keep = keep || e.Name() == n
				}
				if !keep {
					os.RemoveAll(filepath.Join(dir, e.Name()))
				}
			}
		}
	}

	const (
		dirCopy = iota // a fresh copy of an initialised devnet data directory
		dirIdle        // the running idle node's
		dirMissing
	)
	for _, c := range []struct {
		name   string
		dir    int
		args   []string // "DIR" is replaced by the data directory
		env    []string
		config string // written to DIR/config.toml first
		code   int
		want   string
		prep   func(dir string) // changes DIR first
	}{
		{"unknown command", dirCopy, []string{"frobnicate"}, nil, "", 2, `unknown command "frobnicate"`, nil},
		{"bad flag", dirCopy, []string{"run", "--datadir", "DIR", "--minr"}, nil, "", 2, "flag provided but not defined: -minr", nil},
		{"bad flag value", dirCopy, []string{"run", "--datadir", "DIR", "--mine=maybe"}, nil, "", 2, `invalid boolean value "maybe" for -mine`, nil},
		{"missing wallet subcommand", dirCopy, []string{"wallet"}, nil, "", 2, "missing subcommand", nil},
		{"unknown network flag", dirCopy, []string{"run", "--network", "foonet", "--datadir", "DIR"}, nil, "", 1, `unknown network "foonet" (known: devnet, testnet, mainnet)`, nil},
		{"unknown network env", dirCopy, []string{"status", "--datadir", "DIR"}, []string{"GRADIENTCOIN_NETWORK=foonet"}, "", 1, `GRADIENTCOIN_NETWORK foonet: unknown network "foonet"`, nil},
		{"unknown network in config", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "# x\n\nnetwork = \"foonet\"\n", 1, `config.toml: line 3: network: unknown network "foonet"`, nil},
		{"malformed config", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "mine = true\nthreads = \n", 1, "config.toml: line 2:", nil},
		{"unknown config key", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "# settings\nmine = true\nminr = false\n", 1, `config.toml: line 3: unknown key "minr"`, nil},
		{"config table", dirCopy, []string{"status", "--datadir", "DIR"}, nil, "[p2p]\nport = 1\n", 1, `config.toml: line 1: unknown key "p2p"`, nil},
		{"config type", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "threads = \"many\"\n", 1, "config.toml: line 1: threads: must be an integer, not a string", nil},
		{"bad env value", dirCopy, []string{"run", "--datadir", "DIR"}, []string{"GRADIENTCOIN_THREADS=abc"}, "", 1, `GRADIENTCOIN_THREADS: not an integer: "abc"`, nil},
		{"threads out of range", dirCopy, []string{"run", "--datadir", "DIR", "--threads", "-1"}, nil, "", 1, "threads -1 out of range", nil},
		{"unknown log level", dirCopy, []string{"run", "--datadir", "DIR", "--log-level", "loud"}, nil, "", 1, `unknown log level "loud"`, nil},
		{"non-loopback API", dirCopy, []string{"run", "--datadir", "DIR", "--rpc", "0.0.0.0:18999"}, nil, "", 1, "--rpc 0.0.0.0:18999: not a loopback address", nil},
		{"API address", dirCopy, []string{"run", "--datadir", "DIR", "--rpc", "localhost"}, nil, "", 1, "--rpc localhost: not host:port", nil},
		{"gpu without CUDA", dirCopy, []string{"run", "--datadir", "DIR", "--gpu"}, nil, "", 1, "built without CUDA", nil},
		{"missing training data", dirCopy, []string{"run", "--datadir", "DIR", "--data", "/nonexistent/corpus.txt"}, nil, "", 1, "training data /nonexistent/corpus.txt: no such file", nil},
		{"other network's datadir", dirCopy, []string{"run", "--network", "testnet", "--datadir", "DIR"}, nil, "", 1, "belongs to network devnet", nil},
		{"init twice", dirCopy, []string{"init", "--datadir", "DIR"}, nil, "", 1, "already holds a devnet node", nil},
		{"missing datadir: run", dirMissing, []string{"run", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist", nil},
		{"missing datadir: status", dirMissing, []string{"status", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist", nil},
		{"missing datadir: wallet", dirMissing, []string{"wallet", "balance", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist", nil},
		{"missing datadir: verify", dirMissing, []string{"chain", "verify", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist", nil},
		{"status without a node", dirCopy, []string{"status", "--datadir", "DIR"}, nil, "", 1, "no node is running", nil},
		{"send without a node", dirCopy, []string{"wallet", "send", payee, "1", "--datadir", "DIR"}, nil, "", 1, "needs the running node", nil},
		{"send: bad address", dirIdle, []string{"wallet", "send", "gcdev1nope", "1", "--datadir", "DIR"}, nil, "", 1, `address "gcdev1nope"`, nil},
		{"send: too many decimals", dirIdle, []string{"wallet", "send", payee, "1.123456789", "--datadir", "DIR"}, nil, "", 2, "more than 8 decimals", nil},
		{"send: negative amount", dirIdle, []string{"wallet", "send", payee, "--", "-1", "--datadir", "DIR"}, nil, "", 2, "positive decimal number", nil},
		{"send: overdraft", dirIdle, []string{"wallet", "send", payee, "1000", "--datadir", "DIR"}, nil, "", 1, "insufficient funds: have 0 GC spendable, need 1000.00000176 GC (amount + fee)", nil},
		{"verify a running node's datadir", dirIdle, []string{"chain", "verify", "--datadir", "DIR"}, nil, "", 1, "open in another process", nil},
		{"export above the tip", dirIdle, []string{"export", "--height", "99", "--datadir", "DIR"}, nil, "", 1, "height 99 is above the tip 0", nil},
		{"generate: bad length", dirIdle, []string{"generate", "--length", "0", "--datadir", "DIR"}, nil, "", 2, "--length 0 out of range", nil},
		{"chain show: bad id", dirIdle, []string{"chain", "show", "xyz", "--datadir", "DIR"}, nil, "", 2, `"xyz" is neither a height nor a block hash`, nil},

		// Extra words: a usage error, nothing written.
		{"init testnet", dirMissing, []string{"init", "testnet", "--datadir", "DIR"}, nil, "", 2, `init: unexpected argument "testnet" (did you mean --network testnet?)`, nil},
		{"run testnet", dirCopy, []string{"run", "testnet", "--datadir", "DIR"}, nil, "", 2, `run: unexpected argument "testnet" (did you mean --network testnet?)`, nil},
		{"status x", dirCopy, []string{"status", "x", "--datadir", "DIR"}, nil, "", 2, `status: unexpected argument "x"`, nil},
		{"chain verify 5", dirCopy, []string{"chain", "verify", "5", "--datadir", "DIR"}, nil, "", 2, `chain verify: unexpected argument "5"`, nil},
		{"chain show two ids", dirCopy, []string{"chain", "show", "1", "2", "--datadir", "DIR"}, nil, "", 2, `chain show: unexpected argument "2"`, nil},
		{"wallet balance x", dirCopy, []string{"wallet", "balance", "x", "--datadir", "DIR"}, nil, "", 2, `wallet balance: unexpected argument "x"`, nil},
		{"export devnet", dirCopy, []string{"export", "devnet", "--datadir", "DIR"}, nil, "", 2, `did you mean --network devnet?`, nil},
		{"gpu x", dirCopy, []string{"gpu", "x"}, nil, "", 2, `gpu: unexpected argument "x"`, nil},
		{"version x", dirCopy, []string{"version", "x"}, nil, "", 2, `version: unexpected argument "x"`, nil},
		{"bench x", dirCopy, []string{"bench", "x"}, nil, "", 2, `bench: unexpected argument "x"`, nil},
		{"devnet x", dirCopy, []string{"devnet", "x"}, nil, "", 2, `devnet: unexpected argument "x"`, nil},

		// Bad flags on other commands: one line, no help text.
		{"status: bad flag", dirCopy, []string{"status", "--bogus", "--datadir", "DIR"}, nil, "", 2, "flag provided but not defined: -bogus", nil},
		{"export: bad flag value", dirCopy, []string{"export", "--height", "x", "--datadir", "DIR"}, nil, "", 2, `not a height: "x"`, nil},
		{"chain verify: log flag", dirCopy, []string{"chain", "verify", "--log-level", "debug", "--datadir", "DIR"}, nil, "", 2, "flag provided but not defined: -log-level", nil},

		// Startup problems found before the data directory is touched.
		{"bad listen multiaddr", dirCopy, []string{"run", "--datadir", "DIR", "--listen", "127.0.0.1:9"}, nil, "", 1, `--listen 127.0.0.1:9: "127.0.0.1:9" is not a multiaddr`, nil},
		{"bootstrap without peer id", dirCopy, []string{"run", "--datadir", "DIR", "--bootstrap", "/ip4/127.0.0.1/tcp/9"}, nil, "", 1, "--bootstrap /ip4/127.0.0.1/tcp/9: bad peer address", nil},
		{"API port in use", dirCopy, []string{"run", "--datadir", "DIR", "--rpc", apiAddr}, nil, "", 1, "--rpc " + apiAddr + ": listen on " + apiAddr + ": bind: address already in use", nil},
		{"p2p port in use", dirCopy, []string{"run", "--datadir", "DIR", "--rpc", "127.0.0.1:0", "--no-discovery", "--listen", p2pAddr}, nil, "", 1, "cannot listen on " + p2pAddr, nil},
		{"incomplete data directory: run", dirCopy, []string{"run", "--datadir", "DIR", "--network", "devnet"}, nil, "", 1, "incomplete data directory", keepOnly("node.json")},
		{"incomplete data directory: init", dirCopy, []string{"init", "--datadir", "DIR", "--network", "devnet"}, nil, "", 1, "remove it and run init again", keepOnly("node.json")},

		// Exports that cannot be written: said before any work.
		{"export into a missing directory", dirCopy, []string{"export", "-o", filepath.Join(tmp, "nodir", "w.safetensors"), "--datadir", "DIR"}, nil, "", 1, "directory " + filepath.Join(tmp, "nodir") + " does not exist", nil},
		{"export onto a directory", dirCopy, []string{"export", "-o", tmp, "--force", "--datadir", "DIR"}, nil, "", 1, tmp + " is a directory", nil},

		// Payments the wallet refuses, in coins.
		{"send: above all money", dirIdle, []string{"wallet", "send", payee, "99999999999999999", "--atoms", "--datadir", "DIR"}, nil, "", 1, "amount 999999999.99999999 GC is above the limit of 21000000 GC", nil},
	} {
		var dir string
		var skip []string
		switch c.dir {
		case dirCopy:
			dir = filepath.Join(tmp, "copy-"+strings.ReplaceAll(c.name, " ", "-"))
			copyDir(t, base, dir)
		case dirIdle:
			dir = idle
			skip = []string{"LOCK", ".cookie", ".rpcurl"}
		case dirMissing:
			dir = missing
		}
		if c.config != "" {
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(c.config), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if c.prep != nil {
			c.prep(dir)
		}
		args := make([]string, len(c.args))
		for i, a := range c.args {
			args[i] = strings.ReplaceAll(a, "DIR", dir)
		}
		before := dirDigest(t, dir, skip...)
		r := cli(t, append(append([]string{}, env...), c.env...), args...)
		line := strings.TrimSuffix(r.stderr, "\n")
		switch {
		case r.code != c.code:
			t.Errorf("%s: exit %d, want %d (%s)", c.name, r.code, c.code, r)
		case strings.Contains(line, "\n") || line == "":
			t.Errorf("%s: stderr is not one line: %q", c.name, r.stderr)
		case !strings.HasPrefix(line, "gradientcoin: ") || !strings.Contains(line, c.want):
			t.Errorf("%s: stderr %q does not name the problem (%q)", c.name, line, c.want)
		case r.stdout != "":
			t.Errorf("%s: stdout is not empty: %q", c.name, r.stdout)
		}
		if after := dirDigest(t, dir, skip...); after != before {
			t.Errorf("%s: the data directory changed:\nbefore:\n%s\nafter:\n%s", c.name, before, after)
		}
		if c.dir == dirMissing {
			if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
				t.Errorf("%s: created %s", c.name, filepath.Dir(missing))
			}
		}
	}
}
