package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeEnv is a cliEnv with the given environment variables.
func fakeEnv(vars map[string]string) (*cliEnv, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &cliEnv{
		stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] },
	}, &out, &errb
}

// TestPrecedence: flags > GRADIENTCOIN_* > config.toml > defaults, per
// option.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := "threads = 3\nlog_level = \"debug\"\nmine = false\nlisten = [\"/ip4/127.0.0.1/tcp/1\", \"/ip4/127.0.0.1/tcp/2\"]\nrpc = \"127.0.0.1:7001\"\n"
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  []string
		vars  map[string]string
		check func(c *Config) string
	}{
		{"file beats default", nil, nil, func(c *Config) string {
			if c.Threads != 3 || c.LogLevel != "debug" || c.Mine || !c.Train || len(c.Listen) != 2 || c.RPC != "127.0.0.1:7001" || !c.RPCExplicit {
				return "want the file's threads 3, log_level debug, mine false, 2 listen addresses, rpc; train default true"
			}
			return ""
		}},
		{"env beats file", nil, map[string]string{"GRADIENTCOIN_THREADS": "2", "GRADIENTCOIN_MINE": "1", "GRADIENTCOIN_LISTEN": "/ip4/127.0.0.1/tcp/9"}, func(c *Config) string {
			if c.Threads != 2 || !c.Mine || c.LogLevel != "debug" || len(c.Listen) != 1 {
				return "want env threads 2, mine true, one listen address; file's log level"
			}
			return ""
		}},
		{"flag beats env", []string{"--threads", "1", "--mine=false", "--log-level", "warn"}, map[string]string{"GRADIENTCOIN_THREADS": "2", "GRADIENTCOIN_MINE": "true"}, func(c *Config) string {
			if c.Threads != 1 || c.Mine || c.LogLevel != "warn" {
				return "want flag threads 1, mine false, log level warn"
			}
			return ""
		}},
		{"default network", nil, nil, func(c *Config) string {
			if c.Network != defaultNetwork || c.Params == nil || c.Params.Name != c.Network {
				return "want the default network with its params"
			}
			return ""
		}},
		{"network flag", []string{"--network", "testnet"}, nil, func(c *Config) string {
			if c.Network != "testnet" || c.Params.Name != "testnet" {
				return "want testnet"
			}
			return ""
		}},
	} {
		env, _, _ := fakeEnv(c.vars)
		fs := newFlagSet(env, "run", "run", groupBase|groupLog|groupRPC|groupNode)
		if _, err := fs.parse(append([]string{"--datadir", dir}, c.args...)); err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		cfg, err := fs.resolve(env)
		if err != nil {
			t.Errorf("%s: resolve: %v", c.name, err)
			continue
		}
		if msg := c.check(cfg); msg != "" {
			t.Errorf("%s: %s; got %+v", c.name, msg, *cfg)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("LOCALAPPDATA", filepath.Join(home, "AppData", "Local"))
	want := map[string]string{
		"linux":   filepath.Join(home, ".local", "share", "gradientcoin", "testnet"),
		"darwin":  filepath.Join(home, "Library", "Application Support", "GradientCoin", "testnet"),
		"windows": filepath.Join(home, "AppData", "Local", "GradientCoin", "testnet"),
	}[runtime.GOOS]
	if want == "" {
		want = filepath.Join(home, ".local", "share", "gradientcoin", "testnet")
	}
	if got := defaultDataDir("testnet"); got != want {
		t.Errorf("defaultDataDir(testnet) = %q, want %q", got, want)
	}
	if runtime.GOOS == "linux" {
		t.Setenv("XDG_DATA_HOME", filepath.Join(home, "xdg"))
		if got, want := defaultDataDir("devnet"), filepath.Join(home, "xdg", "gradientcoin", "devnet"); got != want {
			t.Errorf("with XDG_DATA_HOME: %q, want %q", got, want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in    string
		atoms bool
		want  uint64
		err   string
	}{
		{"1", false, 100000000, ""},
		{"1.5", false, 150000000, ""},
		{"0.00000001", false, 1, ""},
		{".5", false, 50000000, ""},
		{"12.", false, 1200000000, ""},
		{"0", false, 0, "positive"},
		{"1.123456789", false, 0, "8 decimals"},
		{"-1", false, 0, "positive decimal"},
		{"1e3", false, 0, "positive decimal"},
		{"184467440737.09551616", false, 0, "too large"},
		{"", false, 0, "positive decimal"},
		{"250", true, 250, ""},
		{"2.5", true, 0, "whole number of atoms"},
	} {
		got, err := parseAmount(c.in, c.atoms)
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseAmount(%q, atoms=%v) = %d, %v; want %d, %q", c.in, c.atoms, got, err, c.want, c.err)
		}
	}
}

// TestHelp: every command and subcommand answers -h with its usage on
// stdout and exit 0 (in process).
func TestHelp(t *testing.T) {
	cases := [][]string{{"-h"}, {"help"}, {"help", "config"}, {"help", "run"}}
	for _, c := range commands {
		if c.name != "help" {
			cases = append(cases, []string{c.name, "-h"})
		}
	}
	cases = append(cases, []string{"wallet", "send", "-h"}, []string{"wallet", "balance", "-h"}, []string{"chain", "verify", "-h"}, []string{"chain", "show", "-h"})
	for _, args := range cases {
		env, out, errb := fakeEnv(nil)
		code := runMain(context.Background(), env, args)
		if code != 0 || !strings.Contains(out.String(), "Usage") && !strings.Contains(out.String(), "Configuration") || errb.Len() != 0 {
			t.Errorf("gradientcoin %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, tail(out.String(), 200), errb.String())
		}
	}
}

func TestVersionAndGPU(t *testing.T) {
	t.Logf("binary built in %.1fs", buildTime.Seconds())
	env := testEnv(t.TempDir())
	r := cli(t, env, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "gradientcoin ") || !strings.Contains(r.stdout, "go:       "+strings.TrimPrefix(runtime.Version(), "go")) ||
		!strings.Contains(r.stdout, "cuda:     off") {
		t.Errorf("version: %s", r)
	}
	r = cli(t, env, "version", "--json")
	var bi BuildInfo
	decodeJSON(t, "version --json", r.stdout, &bi)
	if r.code != 0 || bi.CUDA || bi.GoVersion != runtime.Version() {
		t.Errorf("version --json: %s", r)
	}
	r = cli(t, env, "gpu")
	if r.code != 0 || !strings.Contains(r.stdout, "built without CUDA") {
		t.Errorf("gpu: %s", r)
	}
}

func TestBench(t *testing.T) {
	r := cli(t, testEnv(t.TempDir()), "bench", "--seconds", "0.2", "--json")
	var rep struct {
		Network string        `json:"network"`
		Results []benchResult `json:"results"`
	}
	if r.code != 0 {
		t.Fatalf("bench: %s", r)
	}
	decodeJSON(t, "bench --json", r.stdout, &rep)
	got := map[string]benchResult{}
	for _, x := range rep.Results {
		got[x.Name] = x
	}
	for _, c := range []struct{ name, unit string }{{"sha256d.cpu", "MH/s"}, {"train", "tokens/s"}, {"sketch.cpu", "GB/s"}} {
		if x := got[c.name]; x.Value <= 0 || x.Unit != c.unit {
			t.Errorf("bench %s: %+v, want a positive value in %s", c.name, x, c.unit)
		}
	}
	if got["sha256d.gpu"].Skipped == "" {
		t.Errorf("bench: the GPU hash rate is not marked skipped in a build without CUDA: %+v", got["sha256d.gpu"])
	}
}
