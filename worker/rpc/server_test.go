package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fakeNode is a Backend on an in-memory devnet chain at genesis.
type fakeNode struct {
	p       *chain.Params
	bc      *chain.BlockChain
	balance uint64
	payee   string
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	p := chain.DevnetParams()
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bc.Close() })
	return &fakeNode{p: p, bc: bc, balance: 5 * chain.AtomsPerCoin, payee: chain.EncodeAddress(p.AddressPrefix, chain.Address{7})}
}

func (f *fakeNode) Params() *chain.Params { return f.p }
func (f *fakeNode) Status() node.Status {
	tip := f.bc.Tip()
	loss := 2.5
	return node.Status{Network: f.p.Name, Genesis: f.p.GenesisHash, Height: tip.Height, Tip: tip.Hash,
		StateRoot: tip.Header.StateRoot, Loss: &loss, Balance: f.balance, Version: "test"}
}
func (f *fakeNode) LossHistory() []node.LossPoint {
	return []node.LossPoint{{Height: 0, Loss: 5.5}, {Height: 1, Loss: 4.0}}
}
func (f *fakeNode) RecentBlocks(k int) []node.BlockSummary {
	return []node.BlockSummary{{Height: 0, Hash: f.p.GenesisHash}}
}
func (f *fakeNode) Chain() *chain.BlockChain    { return f.bc }
func (f *fakeNode) NewAddress() (string, error) { return f.payee, nil }
func (f *fakeNode) Balance() (uint64, uint64, error) {
	return f.balance, 0, nil
}
func (f *fakeNode) Send(to string, amount, feeRate uint64) (chain.Hash, error) {
	if amount > chain.MaxMoney { // the wallet's own refusal
		w, err := wallet.FromSeed("", f.p, [32]byte{1})
		if err != nil {
			return chain.Hash{}, err
		}
		_, err = w.Pay(f.bc, nil, chain.Address{7}, amount, feeRate)
		return chain.Hash{}, err
	}
	if amount+1000 > f.balance {
		return chain.Hash{}, &wallet.InsufficientFundsError{Have: f.balance, Need: amount + 1000}
	}
	return chain.Hash{1, 2, 3}, nil
}
func (f *fakeNode) History() ([]node.WalletTx, error) { return nil, nil }
func (f *fakeNode) Metrics() node.MetricsSnapshot {
	return node.MetricsSnapshot{Height: 3, BlocksConnected: 3, Hashes: 1234, LossKnown: true, Loss: 2.5, Peers: 2}
}
func (f *fakeNode) WeightsAt(h uint64) ([]float32, chain.Hash, error) {
	hash, ok := f.bc.HashByHeight(h)
	if !ok {
		return nil, chain.Hash{}, node.ErrBadRequest
	}
	w, err := f.bc.WeightsAt(hash)
	return w, hash, err
}
func (f *fakeNode) Generate(prompt []byte, n int, _ node.GenerateOptions) ([]byte, error) {
	return []byte(strings.Repeat("a", n)), nil
}

// newTestServer starts a server on 127.0.0.1:0 with its files in a temp
// data directory.
func newTestServer(t *testing.T) (*Server, *fakeNode, string) {
	t.Helper()
	f := newFakeNode(t)
	dir := t.TempDir()
	s, err := New(Config{Backend: f, Addr: "127.0.0.1:0", DataDir: dir, Token: testToken,
		Build: BuildInfo{Version: "v0.0.1-test", Commit: "abc", Go: "go1.26", CUDA: false}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, f, dir
}

func request(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestAuth(t *testing.T) {
	s, _, _ := newTestServer(t)
	good := map[string]string{"Authorization": "Bearer " + testToken}
	paths := []struct{ method, path, body string }{
		{"GET", "/", ""},
		{"GET", "/static/app.js", ""},
		{"GET", "/api/v1/status", ""},
		{"GET", "/api/v1/loss", ""},
		{"GET", "/api/v1/blocks", ""},
		{"GET", "/api/v1/blocks/0", ""},
		{"GET", "/api/v1/wallet/balance", ""},
		{"POST", "/api/v1/wallet/address", "{}"},
		{"GET", "/api/v1/wallet/history", ""},
		{"GET", "/api/v1/weights", ""},
		{"GET", "/metrics", ""},
		{"GET", "/no/such/path", ""},
	}
	creds := []struct {
		name string
		hdr  map[string]string
		ok   bool
	}{
		{"none", nil, false},
		{"wrong bearer", map[string]string{"Authorization": "Bearer " + strings.Repeat("0", 64)}, false},
		{"basic auth", map[string]string{"Authorization": "Basic Z3JhZGllbnRjb2luOnRva2Vu"}, false},
		{"wrong cookie", map[string]string{"Cookie": AuthCookie + "=nope"}, false},
		{"bearer", good, true},
		{"cookie", map[string]string{"Cookie": AuthCookie + "=" + testToken}, true},
	}
	for _, p := range paths {
		for _, c := range creds {
			hdr := map[string]string{}
			for k, v := range c.hdr {
				hdr[k] = v
			}
			if p.body != "" {
				hdr["Content-Type"] = "application/json"
			}
			resp, body := request(t, p.method, s.URL()+p.path, p.body, hdr)
			name := p.method + " " + p.path + " with " + c.name
			if !c.ok {
				var er ErrorResponse
				if resp.StatusCode != 401 || json.Unmarshal([]byte(body), &er) != nil || er.Kind != "unauthorized" || er.Error == "" {
					t.Errorf("%s: %d %q, want 401 with a JSON error", name, resp.StatusCode, body)
				}
				continue
			}
			want := 200
			if p.path == "/no/such/path" {
				want = 404
			}
			if resp.StatusCode != want {
				t.Errorf("%s: status %d (%s), want %d", name, resp.StatusCode, body, want)
			}
		}
	}
}

func TestLogin(t *testing.T) {
	s, _, _ := newTestServer(t)
	for _, c := range []struct {
		name, query string
		code        int
		cookie      bool
	}{
		{"right token", "?token=" + testToken, http.StatusSeeOther, true},
		{"wrong token", "?token=abc", http.StatusUnauthorized, false},
		{"no token", "", http.StatusUnauthorized, false},
	} {
		resp, body := request(t, "GET", s.URL()+"/login"+c.query, "", nil)
		if resp.StatusCode != c.code {
			t.Errorf("%s: status %d (%s), want %d", c.name, resp.StatusCode, body, c.code)
		}
		sc := resp.Header.Get("Set-Cookie")
		if c.cookie {
			if !strings.Contains(sc, AuthCookie+"="+testToken) || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
				t.Errorf("%s: Set-Cookie %q, want an HttpOnly SameSite=Strict auth cookie", c.name, sc)
			}
			if loc := resp.Header.Get("Location"); loc != "/" {
				t.Errorf("%s: redirect to %q, want /", c.name, loc)
			}
		} else if sc != "" {
			t.Errorf("%s: Set-Cookie %q on a failed login", c.name, sc)
		}
	}
}

func TestBadRequests(t *testing.T) {
	s, f, _ := newTestServer(t)
	json := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}
	text := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "text/plain"}
	for _, c := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		code                     int
		field, msg               string
	}{
		{"send: empty body", "POST", "/api/v1/wallet/send", "", json, 400, "", "empty body"},
		{"send: not JSON", "POST", "/api/v1/wallet/send", "to=me", json, 400, "", "malformed JSON"},
		{"send: missing to", "POST", "/api/v1/wallet/send", `{"amount":1}`, json, 400, "to", `"to" is required`},
		{"send: missing amount", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `"}`, json, 400, "amount", `"amount" is required`},
		{"send: amount as string", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":"1"}`, json, 400, "amount", `field "amount" must be a non-negative integer`},
		{"send: negative amount", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":-1}`, json, 400, "amount", `field "amount"`},
		{"send: fractional amount", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":1.5}`, json, 400, "amount", `field "amount"`},
		{"send: unknown field", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":1,"fee":2}`, json, 400, "fee", `unknown field "fee"`},
		{"send: bad address", "POST", "/api/v1/wallet/send", `{"to":"gcdev1nope","amount":1}`, json, 400, "to", `field "to"`},
		{"send: other network's address", "POST", "/api/v1/wallet/send", `{"to":"` + chain.EncodeAddress("gctest", chain.Address{1}) + `","amount":1}`, json, 400, "to", `field "to"`},
		{"send: trailing data", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":1} {}`, json, 400, "", "trailing data"},
		{"send: text/plain", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":1}`, text, 415, "", "application/json"},
		{"send: overdraft", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":600000000}`, json, 422, "amount", "insufficient funds: have 5 GC spendable, need 6.00001 GC"},
		{"send: amount above all money", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","amount":99999999999999999}`, json, 400, "amount", "above the limit of 21000000 GC"},
		{"send: array body", "POST", "/api/v1/wallet/send", `[]`, json, 400, "", "body must be a JSON object, not an array"},
		{"send: string body", "POST", "/api/v1/wallet/send", `"x"`, json, 400, "", "body must be a JSON object, not a string"},
		{"send: key case", "POST", "/api/v1/wallet/send", `{"TO":"` + f.payee + `","amount":1}`, json, 400, "TO", `unknown field "TO" (did you mean "to"?`},
		{"send: key case of amount", "POST", "/api/v1/wallet/send", `{"to":"` + f.payee + `","Amount":1}`, json, 400, "Amount", `unknown field "Amount"`},
		{"send: GET", "GET", "/api/v1/wallet/send", "", json, 405, "", ""},
		{"generate: zero length", "POST", "/api/v1/generate", `{"prompt":"a"}`, json, 400, "length", `"length"`},
		{"generate: top_k", "POST", "/api/v1/generate", `{"length":5,"top_k":1000}`, json, 400, "top_k", `"top_k"`},
		{"generate: height above tip", "POST", "/api/v1/generate", `{"length":5,"height":99}`, json, 404, "height", "above the tip"},
		{"generate: negative temperature", "POST", "/api/v1/generate", `{"length":5,"temperature":-1}`, json, 400, "temperature", "want 0..100"},
		{"generate: array body", "POST", "/api/v1/generate", `[1]`, json, 400, "", "body must be a JSON object"},
		{"blocks: limit", "GET", "/api/v1/blocks?limit=0", "", json, 400, "limit", "1..1000"},
		{"block: bad id", "GET", "/api/v1/blocks/xyz", "", json, 400, "id", "neither a height nor a block hash"},
		{"block: unknown height", "GET", "/api/v1/blocks/77", "", json, 404, "id", "no main-chain block at height 77"},
		{"weights: bad height", "GET", "/api/v1/weights?height=-1", "", json, 400, "height", "not a non-negative integer"},
		{"weights: above tip", "GET", "/api/v1/weights?height=5", "", json, 404, "height", "above the tip"},
	} {
		resp, body := request(t, c.method, s.URL()+c.path, c.body, c.hdr)
		if resp.StatusCode != c.code {
			t.Errorf("%s: status %d (%s), want %d", c.name, resp.StatusCode, body, c.code)
			continue
		}
		if c.msg == "" {
			continue
		}
		var er ErrorResponse
		if err := jsonUnmarshal(body, &er); err != nil {
			t.Errorf("%s: body %q is not a JSON error: %v", c.name, body, err)
			continue
		}
		if er.Field != c.field || !strings.Contains(er.Error, c.msg) || strings.Contains(er.Error, "\n") {
			t.Errorf("%s: error %q field %q, want field %q and %q on one line", c.name, er.Error, er.Field, c.field, c.msg)
		}
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func TestEndpoints(t *testing.T) {
	s, f, _ := newTestServer(t)
	c := &Client{BaseURL: s.URL(), Token: testToken}
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Network != "devnet" || st.Tip != f.p.GenesisHash {
		t.Errorf("Status: %+v, %v", st, err)
	}
	blk, err := c.Block(ctx, "0")
	if err != nil || blk.Hash != f.p.GenesisHash || !blk.MainChain || len(blk.Transactions) != 1 || !blk.Transactions[0].Coinbase {
		t.Errorf("Block(0): %+v, %v", blk, err)
	}
	if b2, err := c.Block(ctx, f.p.GenesisHash.String()); err != nil || b2.Height != 0 {
		t.Errorf("Block(genesis hash): %+v, %v", b2, err)
	}
	bal, err := c.Balance(ctx)
	if err != nil || bal.Spendable != f.balance || bal.SpendableCoins != "5" {
		t.Errorf("Balance: %+v, %v", bal, err)
	}
	if a, err := c.NewAddress(ctx); err != nil || a != f.payee {
		t.Errorf("NewAddress: %q, %v", a, err)
	}
	if id, err := c.Send(ctx, SendRequest{To: f.payee, Amount: 1000}); err != nil || id != (chain.Hash{1, 2, 3}) {
		t.Errorf("Send: %v, %v", id, err)
	}
	_, err = c.Send(ctx, SendRequest{To: f.payee, Amount: 10 * chain.AtomsPerCoin})
	if !errors.Is(err, chain.ErrInsufficientFunds) || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "have 5 GC spendable") {
		t.Errorf("overdraft: %v, want ErrInsufficientFunds naming what was spendable", err)
	}
	w, info, err := c.Weights(ctx, nil)
	if err != nil || len(w) != f.p.Training.ParamCount() || info.Height != 0 || info.Network != "devnet" ||
		info.StateRoot != f.p.GenesisBlock.Header.StateRoot || chain.Hash(f.p.Training.Root(w)) != info.StateRoot {
		t.Errorf("Weights: %d floats, %+v, %v", len(w), info, err)
	}
	g, err := c.Generate(ctx, GenerateRequest{Prompt: "x", Length: 4})
	if err != nil || g.Text != "aaaa" || g.Height != 0 || g.Block != f.p.GenesisHash {
		t.Errorf("Generate: %+v, %v", g, err)
	}
	bad := &Client{BaseURL: s.URL(), Token: "nope"}
	if _, err := bad.Status(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v, want ErrUnauthorized", err)
	}
	down := &Client{BaseURL: "http://127.0.0.1:1", Token: testToken}
	if _, err := down.Status(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("nothing listening: %v, want ErrNotRunning", err)
	}
}

// metricLine is a sample line of the text format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$`)

func TestMetrics(t *testing.T) {
	s, _, _ := newTestServer(t)
	c := &Client{BaseURL: s.URL(), Token: testToken}
	text, err := c.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	helps := map[string]bool{}
	samples := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			helps[strings.Fields(line)[2]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			types[f[2]] = f[3]
		default:
			m := metricLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("line %q is not a valid sample", line)
				continue
			}
			name := m[1]
			samples[name] = true
			if !strings.HasPrefix(name, "gradientcoin_") {
				t.Errorf("metric %s: not gradientcoin_*", name)
			}
			if types[name] == "" || !helps[name] {
				t.Errorf("metric %s: sample before its HELP/TYPE", name)
			}
			if (types[name] == "counter") != strings.HasSuffix(name, "_total") {
				t.Errorf("metric %s: type %s, but counters (and only counters) end in _total", name, types[name])
			}
		}
	}
	for _, want := range []string{
		`gradientcoin_build_info{version="v0.0.1-test",commit="abc",go="go1.26",cuda="false"} 1`,
		"gradientcoin_height 3",
		"gradientcoin_hashes_total 1234",
		"gradientcoin_loss 2.5",
		"gradientcoin_peers 2",
		`gradientcoin_gossip_messages_total{result="accept"} 0`,
		"gradientcoin_wallet_spendable_atoms 5e+08",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, suffix := range []string{"_seconds", "_bytes", "_total"} {
		found := false
		for name := range samples {
			found = found || strings.HasSuffix(name, suffix)
		}
		if !found {
			t.Errorf("no metric ends in %s", suffix)
		}
	}
}

func TestCookieFiles(t *testing.T) {
	f := newFakeNode(t)
	dir := t.TempDir()
	s, err := New(Config{Backend: f, Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	cookie := filepath.Join(dir, CookieFile)
	st, err := os.Stat(cookie)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cookie file: %v, %v; want mode 0600", st, err)
	}
	c, err := ClientForDataDir(dir, "")
	if err != nil || c.Token != s.Token() || c.BaseURL != s.URL() || len(c.Token) != 64 {
		t.Fatalf("ClientForDataDir: %+v, %v", c, err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("Status with the cookie file's token: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{CookieFile, URLFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there after Close (%v)", name, err)
		}
	}
	if _, err := ClientForDataDir(dir, ""); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ClientForDataDir without a cookie: %v, want ErrNotRunning", err)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		want   error
	}{
		{"127.0.0.1:0", false, nil},
		{"[::1]:8634", false, nil},
		{"localhost:8634", false, nil},
		{"0.0.0.0:8634", false, ErrRemoteAddr},
		{"192.168.1.5:8634", false, ErrRemoteAddr},
		{":8634", false, ErrRemoteAddr},
		{"0.0.0.0:8634", true, nil},
		{"127.0.0.1", false, ErrConfig},
		{"127.0.0.1:99999", false, ErrConfig},
	} {
		if err := CheckAddr(c.addr, c.remote); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("CheckAddr(%q, %v) = %v, want %v", c.addr, c.remote, err, c.want)
		}
	}
	if _, err := New(Config{Backend: newFakeNode(t), Addr: "0.0.0.0:0"}); !errors.Is(err, ErrRemoteAddr) {
		t.Errorf("New on 0.0.0.0 without AllowRemote: %v", err)
	}
}

func TestPage(t *testing.T) {
	f := newFakeNode(t)
	s, err := New(Config{Backend: f, Addr: "127.0.0.1:0", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	h := s.Handler()
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `"network":"devnet"`},
		{"/static/app.js", "text/javascript", "renderLoss"},
		{"/static/style.css", "text/css", "#loss-curve"},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), c.ctype) || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %q, want %s containing %q", c.path, rec.Code, rec.Header().Get("Content-Type"), c.ctype, c.contains)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "http") {
			t.Errorf("%s: CSP %q", c.path, csp)
		}
		for _, ext := range []string{"http://", "https://", "//cdn"} {
			if strings.Contains(strings.ReplaceAll(body, "http://www.w3.org/2000/svg", ""), ext) {
				t.Errorf("%s refers to an external asset (%s)", c.path, ext)
			}
		}
	}
}

func TestFormatCoins(t *testing.T) {
	for _, c := range []struct {
		atoms uint64
		want  string
	}{{0, "0"}, {1, "0.00000001"}, {150000000, "1.5"}, {5000000000, "50"}, {123456789, "1.23456789"}} {
		if got := FormatCoins(c.atoms); got != c.want {
			t.Errorf("FormatCoins(%d) = %q, want %q", c.atoms, got, c.want)
		}
	}
}

func TestRemoteURL(t *testing.T) {
	s, err := New(Config{Backend: newFakeNode(t), Addr: "0.0.0.0:0", AllowRemote: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Close(context.Background())
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q of a server on all interfaces, want the loopback address", s.URL())
	}
	c := &Client{BaseURL: s.URL(), Token: testToken}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("Status through %s: %v", s.URL(), err)
	}
}

// TestListenFirst: Listen binds before the node exists (a port in use is
// an ErrConfig naming the address), New serves on that listener, and
// ListenAddr is the real bind address.
func TestListenFirst(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if _, err := Listen(addr, false); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second Listen on %s: %v", addr, err)
	}
	if _, err := Listen("0.0.0.0:0", false); !errors.Is(err, ErrRemoteAddr) {
		t.Errorf("Listen on all interfaces without AllowRemote: %v", err)
	}
	s, err := New(Config{Backend: newFakeNode(t), Addr: "127.0.0.1:0", Listener: ln, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Close(context.Background())
	if s.ListenAddr() != addr || s.URL() != "http://"+addr {
		t.Errorf("ListenAddr %s, URL %s; want %s", s.ListenAddr(), s.URL(), addr)
	}
	c := &Client{BaseURL: s.URL(), Token: testToken}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("status through the pre-bound listener: %v", err)
	}
}

// TestNotRunningMessages: the client's "no node" errors say it once.
func TestNotRunningMessages(t *testing.T) {
	dir := t.TempDir()
	_, err := ClientForDataDir(dir, "")
	down := &Client{BaseURL: "http://127.0.0.1:1", Token: testToken}
	_, err2 := down.Status(context.Background())
	for _, e := range []error{err, err2} {
		if !errors.Is(e, ErrNotRunning) || strings.Count(e.Error(), "no node is running") != 1 {
			t.Errorf("%v: want ErrNotRunning saying it once", e)
		}
	}
}
