package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput: every case exits non-zero with one line on stderr that
// names the problem, and leaves the data directory as it was.
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
	}{
		{"unknown command", dirCopy, []string{"frobnicate"}, nil, "", 2, `unknown command "frobnicate"`},
		{"bad flag", dirCopy, []string{"run", "--datadir", "DIR", "--minr"}, nil, "", 2, "flag provided but not defined: -minr"},
		{"bad flag value", dirCopy, []string{"run", "--datadir", "DIR", "--mine=maybe"}, nil, "", 2, `invalid boolean value "maybe" for -mine`},
		{"missing wallet subcommand", dirCopy, []string{"wallet"}, nil, "", 2, "missing subcommand"},
		{"unknown network flag", dirCopy, []string{"run", "--network", "foonet", "--datadir", "DIR"}, nil, "", 1, `unknown network "foonet" (known: devnet, testnet, mainnet)`},
		{"unknown network env", dirCopy, []string{"status", "--datadir", "DIR"}, []string{"GRADIENTCOIN_NETWORK=foonet"}, "", 1, `GRADIENTCOIN_NETWORK foonet: unknown network "foonet"`},
		{"unknown network in config", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "# x\n\nnetwork = \"foonet\"\n", 1, `config.toml: line 3: network: unknown network "foonet"`},
		{"malformed config", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "mine = true\nthreads = \n", 1, "config.toml: line 2:"},
		{"unknown config key", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "# settings\nmine = true\nminr = false\n", 1, `config.toml: line 3: unknown key "minr"`},
		{"config table", dirCopy, []string{"status", "--datadir", "DIR"}, nil, "[p2p]\nport = 1\n", 1, `config.toml: line 1: unknown key "p2p"`},
		{"config type", dirCopy, []string{"run", "--datadir", "DIR"}, nil, "threads = \"many\"\n", 1, "config.toml: line 1: threads: must be an integer, not a string"},
		{"bad env value", dirCopy, []string{"run", "--datadir", "DIR"}, []string{"GRADIENTCOIN_THREADS=abc"}, "", 1, `GRADIENTCOIN_THREADS: not an integer: "abc"`},
		{"threads out of range", dirCopy, []string{"run", "--datadir", "DIR", "--threads", "-1"}, nil, "", 1, "threads -1 out of range"},
		{"unknown log level", dirCopy, []string{"run", "--datadir", "DIR", "--log-level", "loud"}, nil, "", 1, `unknown log level "loud"`},
		{"non-loopback API", dirCopy, []string{"run", "--datadir", "DIR", "--rpc", "0.0.0.0:18999"}, nil, "", 1, "--rpc 0.0.0.0:18999: not a loopback address"},
		{"API address", dirCopy, []string{"run", "--datadir", "DIR", "--rpc", "localhost"}, nil, "", 1, "--rpc localhost: not host:port"},
		{"gpu without CUDA", dirCopy, []string{"run", "--datadir", "DIR", "--gpu"}, nil, "", 1, "built without CUDA"},
		{"missing training data", dirCopy, []string{"run", "--datadir", "DIR", "--data", "/nonexistent/corpus.txt"}, nil, "", 1, "training data /nonexistent/corpus.txt: no such file"},
		{"other network's datadir", dirCopy, []string{"run", "--network", "testnet", "--datadir", "DIR"}, nil, "", 1, "belongs to network devnet"},
		{"init twice", dirCopy, []string{"init", "--datadir", "DIR"}, nil, "", 1, "already holds a devnet node"},
		{"missing datadir: run", dirMissing, []string{"run", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist"},
		{"missing datadir: status", dirMissing, []string{"status", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist"},
		{"missing datadir: wallet", dirMissing, []string{"wallet", "balance", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist"},
		{"missing datadir: verify", dirMissing, []string{"chain", "verify", "--network", "devnet", "--datadir", "DIR"}, nil, "", 1, "does not exist"},
		{"status without a node", dirCopy, []string{"status", "--datadir", "DIR"}, nil, "", 1, "no node is running"},
		{"send without a node", dirCopy, []string{"wallet", "send", payee, "1", "--datadir", "DIR"}, nil, "", 1, "needs the running node"},
		{"send: bad address", dirIdle, []string{"wallet", "send", "gcdev1nope", "1", "--datadir", "DIR"}, nil, "", 1, `address "gcdev1nope"`},
		{"send: too many decimals", dirIdle, []string{"wallet", "send", payee, "1.123456789", "--datadir", "DIR"}, nil, "", 2, "more than 8 decimals"},
		{"send: negative amount", dirIdle, []string{"wallet", "send", payee, "--", "-1", "--datadir", "DIR"}, nil, "", 2, "positive decimal number"},
		{"send: overdraft", dirIdle, []string{"wallet", "send", payee, "1000", "--datadir", "DIR"}, nil, "", 1, "insufficient funds: have 0 spendable atoms, need 100000"},
		{"verify a running node's datadir", dirIdle, []string{"chain", "verify", "--datadir", "DIR"}, nil, "", 1, "open in another process"},
		{"export above the tip", dirIdle, []string{"export", "--height", "99", "--datadir", "DIR"}, nil, "", 1, "height 99 is above the tip 0"},
		{"generate: bad length", dirIdle, []string{"generate", "--length", "0", "--datadir", "DIR"}, nil, "", 2, "--length 0 out of range"},
		{"chain show: bad id", dirIdle, []string{"chain", "show", "xyz", "--datadir", "DIR"}, nil, "", 2, `"xyz" is neither a height nor a block hash`},
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
