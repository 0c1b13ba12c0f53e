package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/worker/node"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

// binPath is the gradientcoin binary TestMain builds (without -race: the
// node's race coverage is in worker/node's in-process tests; here the
// binary is the thing under test).
var binPath string

// buildTime is how long building it took (logged by TestVersion).
var buildTime time.Duration

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gradientcoin-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gradientcoin")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	start := time.Now()
	cmd := exec.Command(goTool(), "build", "-o", binPath, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/gradientcoin: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	buildTime = time.Since(start)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// testEnv is the environment of the binary: no GRADIENTCOIN_* or XDG
// variables of the caller, HOME in a temporary directory.
func testEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GRADIENTCOIN_") || strings.HasPrefix(k, "XDG_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "HOME="+home), extra...)
}

// envHome is the HOME of env (the commands' working directory).
func envHome(env []string) string {
	for _, kv := range env {
		if h, ok := strings.CutPrefix(kv, "HOME="); ok {
			return h
		}
	}
	return ""
}

// cli runs the binary to completion (60 s at most).
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = env
	cmd.Dir = envHome(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("gradientcoin %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

// initDir creates a devnet data directory with the binary.
func initDir(t *testing.T, env []string, dir string) {
	t.Helper()
	if r := cli(t, env, "init", "--network", "devnet", "--datadir", dir); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
}

// proc is a running node.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	logf   string
	done   chan struct{}
	err    error
	client *rpc.Client
}

// startNode runs `gradientcoin run` on dir (loopback p2p and API on
// random ports, no discovery, one mining thread) and waits for its API.
func startNode(t *testing.T, env []string, dir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"run", "--datadir", dir, "--rpc", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--no-discovery", "--bootstrap", "", "--threads", "1", "--log-format", "json"}, extra...)
	logf := filepath.Join(t.TempDir(), "node.log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, args...)
	cmd.Env = env
	cmd.Dir = envHome(env)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, dir: dir, logf: logf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			t.Logf("log of the node on %s (last 3000 bytes):\n%s", dir, tail(string(b), 3000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := rpc.ClientForDataDir(dir, "")
		if err == nil {
			if _, err = c.Status(context.Background()); err == nil {
				p.client = c
				return p
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(logf)
			t.Fatalf("node on %s exited early (%v):\n%s", dir, p.err, tail(string(b), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node on %s: API not up after 30 s: %v", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitHeight waits until the node's tip is at least h.
func (p *proc) waitHeight(h uint64, within time.Duration) node.Status {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := p.client.Status(context.Background())
		if err == nil && st.Height >= h {
			return st
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("node on %s: height %d after %s (want %d; %v)", p.dir, st.Height, within, h, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// signal sends sig and waits (up to within) for the process to exit; it
// returns the exit code and how long it took.
func (p *proc) signal(sig os.Signal, within time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(within):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("node on %s still running %s after %v", p.dir, within, sig)
	}
	code := 0
	if ee, ok := p.err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	return code, time.Since(start)
}

// dirDigest hashes every file under dir (path, mode and bytes), except
// the names in skip.
func dirDigest(t *testing.T, dir string, skip ...string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, s := range skip {
			if rel == s {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := rel + " " + info.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:8])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// copyDir copies a data directory (regular files only).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(o, in)
		if cerr := o.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func decodeJSON(t *testing.T, what, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v in %q", what, err, s)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON value in %q", what, s)
	}
}
