package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/node"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

// TestNodeLifecycle runs one mining node through the binary: init, run,
// the API (401 without the cookie, 200 with it), status, wallet, chain
// show, the status page in headless Chromium, SIGTERM; then, on the
// stopped node's data directory: chain verify (and its failure on a
// tampered block), export and generate.
func TestNodeLifecycle(t *testing.T) {
	home := t.TempDir()
	env := testEnv(home)
	dir := filepath.Join(t.TempDir(), "a")
	initDir(t, env, dir)
	if st, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("init: config.toml %v, %v", st, err)
	}
	n := startNode(t, env, dir)
	if st, err := os.Stat(filepath.Join(dir, rpc.CookieFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cookie file: %v, %v; want mode 0600", st, err)
	}
	minHeight := uint64(8)
	if os.Getenv("GRADIENTCOIN_SCREENSHOT") != "" {
		minHeight = 40 // a longer loss curve for the committed screenshot
	}
	n.waitHeight(minHeight, 120*time.Second)

	t.Run("api auth", func(t *testing.T) {
		base := n.client.BaseURL
		// The build labels as the binary reports them (VCS stamping may be
		// on or off).
		var bi BuildInfo
		decodeJSON(t, "version --json", cli(t, env, "version", "--json").stdout, &bi)
		buildInfoLine := `gradientcoin_build_info{version="` + bi.Version + `",commit="` + bi.shortCommit() + `",go="` + bi.GoVersion + `",cuda="false"} 1`
		for _, c := range []struct {
			name, path string
			auth       bool
			code       int
		}{
			{"status without cookie", "/api/v1/status", false, 401},
			{"page without cookie", "/", false, 401},
			{"metrics without cookie", "/metrics", false, 401},
			{"send without cookie", "/api/v1/wallet/balance", false, 401},
			{"status with cookie", "/api/v1/status", true, 200},
			{"page with cookie", "/", true, 200},
			{"metrics with cookie", "/metrics", true, 200},
		} {
			req, _ := http.NewRequest("GET", base+c.path, nil)
			if c.auth {
				req.Header.Set("Authorization", "Bearer "+n.client.Token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.code)
			}
			if c.code == 401 {
				var er rpc.ErrorResponse
				if json.Unmarshal(body, &er) != nil || er.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s: body %q is not a JSON error", c.name, body)
				}
			}
			if c.path == "/metrics" && c.auth {
				for _, want := range []string{buildInfoLine, "gradientcoin_height ", "gradientcoin_blocks_mined_total "} {
					if !strings.Contains(string(body), want) {
						t.Errorf("metrics lack %q", want)
					}
				}
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		r := cli(t, env, "status", "--json", "--datadir", dir)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("status --json: %s", r)
		}
		var m map[string]any
		decodeJSON(t, "status --json", r.stdout, &m)
		for _, k := range []string{"network", "height", "tip", "state_root", "peers", "syncing", "hashrate", "loss", "balance"} {
			if _, ok := m[k]; !ok {
				t.Errorf("status --json lacks %q", k)
			}
		}
		var st node.Status
		decodeJSON(t, "status --json", r.stdout, &st)
		if st.Network != "devnet" || st.Height < minHeight || st.Tip.IsZero() || st.StateRoot.IsZero() || st.Loss == nil || !st.MineOn {
			t.Errorf("status --json: %+v", st)
		}
		r = cli(t, env, "status", "--datadir", dir)
		if r.code != 0 || !strings.Contains(r.stdout, "network   devnet") || !strings.Contains(r.stdout, "height    ") {
			t.Errorf("status: %s", r)
		}
		r = cli(t, env, "status", "--url", "--datadir", dir)
		if r.code != 0 || strings.TrimSpace(r.stdout) != n.client.BaseURL+"/login?token="+n.client.Token {
			t.Errorf("status --url: %s", r)
		}
	})

	t.Run("wallet", func(t *testing.T) {
		r := cli(t, env, "wallet", "balance", "--json", "--datadir", dir)
		var b rpc.Balance
		if r.code != 0 {
			t.Fatalf("wallet balance: %s", r)
		}
		decodeJSON(t, "wallet balance --json", r.stdout, &b)
		if b.Spendable == 0 || b.Total != b.Spendable+b.Immature {
			t.Errorf("wallet balance after %d blocks: %+v", minHeight, b)
		}
		r = cli(t, env, "wallet", "address", "--datadir", dir)
		if a := strings.TrimSpace(r.stdout); r.code != 0 || !strings.HasPrefix(a, "gcdev1") || r.stderr != "" {
			t.Errorf("wallet address: %s", r)
		}
		r = cli(t, env, "wallet", "history", "--json", "--datadir", dir)
		var h []node.WalletTx
		if r.code != 0 {
			t.Fatalf("wallet history: %s", r)
		}
		decodeJSON(t, "wallet history --json", r.stdout, &h)
		if len(h) < int(minHeight) || !h[0].Coinbase || h[0].Received == 0 {
			t.Errorf("wallet history: %d entries, first %+v", len(h), h)
		}
	})

	t.Run("chain show", func(t *testing.T) {
		r := cli(t, env, "chain", "show", "--json", "--limit", "5", "--datadir", dir)
		var bs []node.BlockSummary
		if r.code != 0 {
			t.Fatalf("chain show: %s", r)
		}
		decodeJSON(t, "chain show --json", r.stdout, &bs)
		if len(bs) != 5 || bs[0].Height < minHeight || bs[0].Height != bs[1].Height+1 || bs[0].Contributions != 1 {
			t.Errorf("chain show: %+v", bs)
		}
		r = cli(t, env, "chain", "show", "3", "--json", "--datadir", dir)
		var blk rpc.Block
		if r.code != 0 {
			t.Fatalf("chain show 3: %s", r)
		}
		decodeJSON(t, "chain show 3 --json", r.stdout, &blk)
		if blk.Height != 3 || !blk.MainChain || len(blk.Transactions) != 1 || !blk.Transactions[0].Coinbase || len(blk.ContributionHashes) != 1 {
			t.Errorf("chain show 3: %+v", blk)
		}
	})

	t.Run("status page", func(t *testing.T) { testStatusPage(t, env, dir, n) })

	// SIGTERM: clean exit (0) within 10 s, cookie removed.
	code, took := n.signal(syscall.SIGTERM, 10*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("SIGTERM: exit %d after %v", code, took.Round(time.Millisecond))
	for _, f := range []string{rpc.CookieFile, rpc.URLFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s still there after a clean exit (%v)", f, err)
		}
	}
	logb, _ := os.ReadFile(n.logf)
	for _, want := range []string{`"message":"node stopped"`, `"genesis":"` + chain.DevnetParams().GenesisHash.String() + `"`, `"device":"cpu x1 threads`} {
		if !bytes.Contains(logb, []byte(want)) {
			t.Errorf("node log lacks %s", want)
		}
	}
	var st node.Status
	r := cli(t, env, "chain", "show", "--json", "--limit", "1", "--datadir", dir)
	var tip []node.BlockSummary
	decodeJSON(t, "chain show (offline)", r.stdout, &tip)
	if r.code != 0 || len(tip) != 1 {
		t.Fatalf("chain show (offline): %s", r)
	}
	st.Height, st.Tip = tip[0].Height, tip[0].Hash

	t.Run("chain verify", func(t *testing.T) {
		r := cli(t, env, "chain", "verify", "--datadir", dir)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "chain verify: ok: "+strconv.FormatUint(st.Height, 10)+" blocks") {
			t.Fatalf("chain verify: %s", r)
		}
		r = cli(t, env, "chain", "verify", "--json", "--datadir", dir)
		var rep verifyReport
		decodeJSON(t, "chain verify --json", r.stdout, &rep)
		if r.code != 0 || !rep.OK || rep.Height != st.Height || rep.Tip != st.Tip {
			t.Errorf("chain verify --json: %s", r)
		}
	})

	t.Run("chain verify tampered", func(t *testing.T) { testTamper(t, env, dir, st.Height) })
	t.Run("export", func(t *testing.T) { testExport(t, env, dir, st.Height) })

	t.Run("generate", func(t *testing.T) {
		var outs []string
		for i := 0; i < 2; i++ {
			r := cli(t, env, "generate", "s:cab=", "--length", "24", "--seed", "7", "--json", "--datadir", dir)
			if r.code != 0 {
				t.Fatalf("generate: %s", r)
			}
			var g struct {
				Prompt string `json:"prompt"`
				rpc.GenerateResponse
			}
			decodeJSON(t, "generate --json", r.stdout, &g)
			if g.Prompt != "s:cab=" || g.Height != st.Height || g.Block != st.Tip || len([]rune(g.Text)) != 24 {
				t.Errorf("generate: %+v", g)
			}
			outs = append(outs, g.Text)
		}
		if outs[0] != outs[1] {
			t.Errorf("generate with the same seed differs: %q vs %q", outs[0], outs[1])
		}
		r := cli(t, env, "generate", "s:", "--length", "8", "--height", "0", "--temperature", "0", "--datadir", dir)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "s:") {
			t.Errorf("generate --height 0: %s", r)
		}
	})
}

// testTamper changes a stored block in copies of the data directory and
// checks that chain verify fails naming its height.
func testTamper(t *testing.T, env []string, dir string, tipHeight uint64) {
	const height = 5
	for _, c := range []struct {
		name string
		edit func(b []byte) // the stored block encoding
		want string
	}{
		{"last body byte", func(b []byte) { b[len(b)-1] ^= 0x01 }, "height 5: block "},
		{"nonce byte", func(b []byte) { b[chain.HeaderSize-8] ^= 0x01 }, "height 5: stored block hashes to "},
		{"truncated", nil, "height 5: block "},
	} {
		cp := filepath.Join(t.TempDir(), "copy")
		copyDir(t, dir, cp)
		env := env
		r := cli(t, env, "chain", "show", strconv.Itoa(height), "--json", "--datadir", cp)
		var blk rpc.Block
		if r.code != 0 {
			t.Fatalf("%s: chain show: %s", c.name, r)
		}
		decodeJSON(t, "chain show", r.stdout, &blk)
		db, err := bolt.Open(filepath.Join(cp, node.ChainFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("blocks"))
			v := bk.Get(blk.Hash[:])
			if v == nil {
				t.Fatalf("%s: block %s not in the store's blocks bucket", c.name, blk.Hash)
			}
			b := append([]byte(nil), v...)
			if c.edit != nil {
				c.edit(b)
			} else {
				b = b[:len(b)/2]
			}
			return bk.Put(blk.Hash[:], b)
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		r = cli(t, env, "chain", "verify", "--datadir", cp)
		line := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 1 || strings.Contains(line, "\n") || !strings.Contains(line, c.want) {
			t.Errorf("%s: chain verify: %s; want exit 1 and one line naming %q", c.name, r, c.want)
		}
		r = cli(t, env, "chain", "verify", "--json", "--datadir", cp)
		var rep verifyReport
		decodeJSON(t, "chain verify --json", r.stdout, &rep)
		if r.code != 1 || rep.OK || rep.FailedHeight == nil || *rep.FailedHeight != height {
			t.Errorf("%s: chain verify --json: %s", c.name, r)
		}
	}
}

// stEntry is a tensor of a safetensors header, read independently of the
// writer.
type stEntry struct {
	DType   string  `json:"dtype"`
	Shape   []int   `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

// readSafetensors parses a safetensors file: 8-byte little-endian header
// length, JSON header, data; it checks the layout rules of the format.
func readSafetensors(t *testing.T, path string) (map[string]string, map[string]stEntry, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > uint64(len(b)-8) || n%8 != 0 {
		t.Fatalf("%s: header length %d (file %d bytes; should be a multiple of 8)", path, n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	data := b[8+n:]
	meta := map[string]string{}
	tensors := map[string]stEntry{}
	var total int64
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			continue
		}
		var e stEntry
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("tensor %s: %v", k, err)
		}
		size := int64(4)
		for _, d := range e.Shape {
			size *= int64(d)
		}
		if e.DType != "F32" || len(e.Offsets) != 2 || e.Offsets[1]-e.Offsets[0] != size || e.Offsets[0] < 0 || e.Offsets[1] > int64(len(data)) {
			t.Errorf("tensor %s: %+v (data %d bytes)", k, e, len(data))
		}
		total += size
		tensors[k] = e
	}
	if total != int64(len(data)) {
		t.Errorf("tensors cover %d bytes, data has %d", total, len(data))
	}
	return meta, tensors, data
}

func testExport(t *testing.T, env []string, dir string, tipHeight uint64) {
	p := chain.DevnetParams()
	layout, params, err := p.Training.Model.Layout()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		height uint64
	}{
		{"tip", nil, tipHeight},
		{"height 3", []string{"--height", "3"}, 3},
		{"genesis", []string{"--height", "0"}, 0},
	} {
		out := filepath.Join(t.TempDir(), "w.safetensors")
		r := cli(t, env, append([]string{"export", "-o", out, "--datadir", dir}, c.args...)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "wrote "+out) {
			t.Fatalf("%s: export: %s", c.name, r)
		}
		r2 := cli(t, env, "chain", "show", strconv.FormatUint(c.height, 10), "--json", "--datadir", dir)
		var blk rpc.Block
		decodeJSON(t, "chain show", r2.stdout, &blk)
		meta, tensors, data := readSafetensors(t, out)
		for k, want := range map[string]string{
			"network": "devnet", "height": strconv.FormatUint(c.height, 10), "state_root": blk.StateRoot.String(),
			"genesis": p.GenesisHash.String(), "block": blk.Hash.String(),
		} {
			if meta[k] != want {
				t.Errorf("%s: metadata %s = %q, want %q", c.name, k, meta[k], want)
			}
		}
		if len(tensors) != len(layout) || len(data) != 4*params {
			t.Errorf("%s: %d tensors, %d bytes; want %d tensors of %d floats", c.name, len(tensors), len(data), len(layout), params)
		}
		for _, l := range layout {
			e, ok := tensors[l.Name]
			if !ok || !equalInts(e.Shape, l.Shape) || e.Offsets[0] != int64(4*l.Offset) {
				t.Errorf("%s: tensor %s: %+v, want shape %v at float %d", c.name, l.Name, e, l.Shape, l.Offset)
			}
		}
		w := make([]float32, len(data)/4)
		for i := range w {
			w[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		if got := chain.Hash(p.Training.Root(w)); got != blk.StateRoot {
			t.Errorf("%s: the exported weights hash to %s, block %d commits to %s", c.name, got, c.height, blk.StateRoot)
		}
	}
	r := cli(t, env, "export", "-o", filepath.Join(t.TempDir(), "x.safetensors"), "--height", strconv.FormatUint(tipHeight+5, 10), "--datadir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "above the tip") {
		t.Errorf("export above the tip: %s", r)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// chromium finds a headless-capable Chromium.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// testStatusPage loads the status page in headless Chromium through the
// login URL, checks the rendered DOM for real values and takes a
// screenshot (copied to $GRADIENTCOIN_SCREENSHOT when set).
func testStatusPage(t *testing.T, env []string, dir string, n *proc) {
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed: apt-get install -y --no-install-recommends chromium (CI installs it in .ci/run)")
	}
	r := cli(t, env, "status", "--url", "--datadir", dir)
	url := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.Contains(url, "/login?token=") {
		t.Fatalf("status --url: %s", r)
	}
	before, err := n.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "status-page.png")
	profile := t.TempDir()
	run := func(url, profile string, extra ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
			"--user-data-dir=" + profile, "--virtual-time-budget=5000", "--window-size=1280,1000", "--hide-scrollbars"}, extra...)
		args = append(args, url)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = t.TempDir()
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		return result{out.String(), errb.String(), code}
	}
	dom := run(url, profile, "--dump-dom")
	if dom.code != 0 || !strings.Contains(dom.stdout, "</html>") {
		t.Fatalf("chromium --dump-dom: exit %d, %d bytes of DOM; stderr %s", dom.code, len(dom.stdout), tail(dom.stderr, 2000))
	}
	page := dom.stdout
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(page)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if src := find(`<body data-source="([a-z]+)"`); src != "live" {
		t.Errorf("page data source %q, want live (the script's fetches of the API did not complete)", src)
	}
	h, _ := strconv.ParseUint(strings.ReplaceAll(find(`id="height">([0-9,]+)<`), ",", ""), 10, 64)
	if h == 0 || h < before.Height {
		t.Errorf("page height %d, want ≥ %d", h, before.Height)
	}
	if pts, _ := strconv.Atoi(find(`id="loss-curve"[^>]*data-points="([0-9]+)"`)); pts < 2 {
		t.Errorf("loss curve has %d points, want ≥ 2", pts)
	}
	if line := find(`<polyline[^>]*points="([^"]+)"`); len(strings.Fields(line)) < 2 {
		t.Errorf("loss curve polyline %q has fewer than 2 points", line)
	}
	bal := find(`id="balance">([^<]+)<`)
	coins := strings.TrimSuffix(strings.ReplaceAll(bal, ",", ""), " GC")
	if v, err := strconv.ParseFloat(coins, 64); err != nil || v <= 0 || uint64(v*1e8+0.5) < before.Balance {
		t.Errorf("page balance %q, want ≥ %s GC", bal, rpc.FormatCoins(before.Balance))
	}
	if loss := find(`id="loss">([0-9.]+)<`); loss == "" {
		t.Errorf("page shows no loss value")
	}
	if rows := strings.Count(find(`(?s)<tbody id="blocks">(.*?)</tbody>`), "<tr>"); rows < 5 {
		t.Errorf("recent blocks table has %d rows, want ≥ 5", rows)
	}
	sr := run(url, profile, "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if sr.code != 0 || err != nil || len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("chromium --screenshot: exit %d, %d bytes, %v; stderr %s", sr.code, len(png), err, tail(sr.stderr, 2000))
	}
	if dst := os.Getenv("GRADIENTCOIN_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", dst)
	}
	// Without the token (a fresh profile, the plain URL) the browser gets
	// the 401 JSON error, not the page.
	noauth := run(strings.SplitN(url, "/login", 2)[0]+"/", t.TempDir(), "--dump-dom")
	if noauth.code != 0 || !strings.Contains(noauth.stdout, "unauthorized") || strings.Contains(noauth.stdout, `id="loss-curve"`) {
		t.Errorf("page without the token: exit %d, DOM %q", noauth.code, tail(noauth.stdout, 500))
	}
}
