package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

// Files the server writes into the data directory while it runs.
const (
	// CookieFile holds the API token (hex, 0600). Send it as
	// "Authorization: Bearer <token>"; browsers get it as a cookie from
	// /login?token=<token>.
	CookieFile = ".cookie"
	// URLFile holds the API's base URL (http://127.0.0.1:PORT), so clients
	// find a node that listens on a port picked at start.
	URLFile = ".rpcurl"
	// AuthCookie is the name of the browser cookie set by /login.
	AuthCookie = "gradientcoin_auth"
)

// Backend is what the API serves. *node.Node implements it.
type Backend interface {
	Params() *chain.Params
	Status() node.Status
	LossHistory() []node.LossPoint
	RecentBlocks(k int) []node.BlockSummary
	Chain() *chain.BlockChain
	NewAddress() (string, error)
	Balance() (spendable, immature uint64, err error)
	Send(to string, amount, feeRate uint64) (chain.Hash, error)
	History() ([]node.WalletTx, error)
	Metrics() node.MetricsSnapshot
	WeightsAt(height uint64) ([]float32, chain.Hash, error)
	Generate(prompt []byte, maxBytes int, opts node.GenerateOptions) ([]byte, error)
}

var _ Backend = (*node.Node)(nil)

// BuildInfo labels the gradientcoin_build_info metric.
type BuildInfo struct {
	Version string
	Commit  string
	Go      string
	CUDA    bool
}

// Config configures a Server.
type Config struct {
	// Backend is the node (required).
	Backend Backend
	// Addr is the listen address, host:port (port 0 picks one). It must be
	// a loopback address unless AllowRemote.
	Addr        string
	AllowRemote bool
	// Listener, if set, is the listener to serve on (from Listen, bound
	// before the node opened); Addr is then only the configured address.
	Listener net.Listener
	// DataDir, if set, receives CookieFile and URLFile (removed by Close).
	DataDir string
	// Token fixes the API token (tests); empty: 32 random bytes.
	Token string
	// Build labels gradientcoin_build_info.
	Build BuildInfo
	// Log receives request and lifecycle logs; the zero Logger discards.
	Log zerolog.Logger
}

// Server is the local HTTP API and status page.
type Server struct {
	cfg   Config
	b     Backend
	log   zerolog.Logger
	token string
	ln    net.Listener
	srv   *http.Server
	url   string
	mux   *http.ServeMux

	requests sync.Map // status code → *atomic.Uint64
	closed   atomic.Bool
	done     chan struct{}
	serveErr error
}

// New listens on cfg.Addr and writes the cookie and URL files; Start (or
// Serve) then serves requests.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, fmt.Errorf("%w: no backend", ErrConfig)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = Listen(cfg.Addr, cfg.AllowRemote); err != nil {
			return nil, err
		}
	}
	tok := cfg.Token
	if tok == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			ln.Close()
			return nil, err
		}
		tok = hex.EncodeToString(b[:])
	}
	s := &Server{cfg: cfg, b: cfg.Backend, log: cfg.Log, token: tok, ln: ln, done: make(chan struct{})}
	s.url = "http://" + clientAddr(ln.Addr(), cfg.Addr)
	s.mux = s.routes()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          nil,
	}
	if cfg.DataDir != "" {
		if err := writeFile0600(filepath.Join(cfg.DataDir, CookieFile), []byte(tok+"\n")); err != nil {
			ln.Close()
			return nil, fmt.Errorf("rpc: write cookie: %w", err)
		}
		if err := writeFile0600(filepath.Join(cfg.DataDir, URLFile), []byte(s.url+"\n")); err != nil {
			ln.Close()
			os.Remove(filepath.Join(cfg.DataDir, CookieFile))
			return nil, fmt.Errorf("rpc: write url file: %w", err)
		}
	}
	return s, nil
}

// Listen checks addr (CheckAddr) and listens on it: a command binds the
// API's address before it opens the node, so that a port in use fails at
// once, naming it.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	if err := CheckAddr(addr, allowRemote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("%w: listen on %s: %v", ErrConfig, addr, err)
	}
	return ln, nil
}

// ListenAddr is the address the server is bound to (0.0.0.0:18634 when it
// listens on all interfaces; URL is then the loopback URL).
func (s *Server) ListenAddr() string { return s.ln.Addr().String() }

// clientAddr is the address a local client dials for a listener: the
// loopback address when it listens on all interfaces (127.0.0.1, or ::1
// when the configured host was an IPv6 literal).
func clientAddr(a net.Addr, configured string) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	ip := "127.0.0.1"
	if host, _, err := net.SplitHostPort(configured); err == nil && strings.Contains(host, ":") {
		ip = "::1"
	}
	return net.JoinHostPort(ip, strconv.Itoa(ta.Port))
}

// CheckAddr checks an API listen address: host:port, with a loopback host
// unless allowRemote.
func CheckAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q is not host:port", ErrConfig, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: address %q: bad port", ErrConfig, addr)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: address %q is not a loopback address", ErrRemoteAddr, addr)
	}
	return nil
}

// URL is the base URL the server listens on (http://127.0.0.1:PORT).
func (s *Server) URL() string { return s.url }

// Token is the API token.
func (s *Server) Token() string { return s.token }

// LoginURL is a URL that logs a browser in (sets the auth cookie) and
// opens the status page.
func (s *Server) LoginURL() string { return s.url + "/login?token=" + s.token }

// Start serves in a goroutine.
func (s *Server) Start() { go s.Serve() }

// Serve serves until Close; it returns nil after Close.
func (s *Server) Serve() error {
	defer close(s.done)
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.serveErr = err
	return err
}

// Close stops the server (waiting for requests in flight until ctx ends)
// and removes the cookie and URL files.
func (s *Server) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if s.cfg.DataDir != "" {
		removeIfHolds(filepath.Join(s.cfg.DataDir, CookieFile), s.token)
		removeIfHolds(filepath.Join(s.cfg.DataDir, URLFile), s.url)
	}
	return err
}

// removeIfHolds removes path if it still holds want (another process may
// have replaced it).
func removeIfHolds(path, want string) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == want {
		os.Remove(path)
	}
}

// writeFile0600 writes a file readable only by its owner, atomically.
func writeFile0600(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Handler is the server's HTTP handler (authentication included).
func (s *Server) Handler() http.Handler {
	if s.mux == nil {
		s.mux = s.routes()
	}
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/status", s.handleStatus)
	m.HandleFunc("GET /api/v1/loss", s.handleLoss)
	m.HandleFunc("GET /api/v1/blocks", s.handleBlocks)
	m.HandleFunc("GET /api/v1/blocks/{id}", s.handleBlock)
	m.HandleFunc("GET /api/v1/wallet/balance", s.handleBalance)
	m.HandleFunc("POST /api/v1/wallet/address", s.handleAddress)
	m.HandleFunc("POST /api/v1/wallet/send", s.handleSend)
	m.HandleFunc("GET /api/v1/wallet/history", s.handleHistory)
	m.HandleFunc("GET /api/v1/weights", s.handleWeights)
	m.HandleFunc("POST /api/v1/generate", s.handleGenerate)
	m.HandleFunc("GET /metrics", s.handleMetrics)
	m.HandleFunc("GET /{$}", s.handlePage)
	m.HandleFunc("GET /static/{file}", s.handleStatic)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Another method on a known path is 405, with the allowed one.
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if method == r.Method {
				continue
			}
			alt := r.Clone(r.Context())
			alt.Method = method
			if _, pat := m.Handler(alt); pat != "/" && pat != "" {
				w.Header().Set("Allow", method)
				writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "use "+method+" "+r.URL.Path)
				return
			}
		}
		writeError(w, http.StatusNotFound, "not_found", "", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return m
}

// statusRecorder captures the response code for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch {
	case r.URL.Path == "/login":
		s.handleLogin(rec, r)
	case !s.authorized(r):
		writeError(rec, http.StatusUnauthorized, "unauthorized", "",
			"unauthorized: send the token of the data directory's "+CookieFile+" file as 'Authorization: Bearer <token>' (browsers: open the URL of 'gradientcoin status --url')")
	default:
		s.mux.ServeHTTP(rec, r)
	}
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	s.count(code)
	s.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", code).Float64("took_ms", float64(time.Since(start).Microseconds())/1000).Msg("api request")
}

func (s *Server) count(code int) {
	v, _ := s.requests.LoadOrStore(code, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// authorized checks the bearer token or the auth cookie.
func (s *Server) authorized(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		tok, ok := strings.CutPrefix(a, "Bearer ")
		return ok && s.tokenOK(tok)
	}
	if c, err := r.Cookie(AuthCookie); err == nil {
		return s.tokenOK(c.Value)
	}
	return false
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t)), []byte(s.token)) == 1
}

// handleLogin turns ?token= into an HttpOnly cookie and redirects to the
// status page.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "use GET /login?token=<token>")
		return
	}
	if !s.tokenOK(r.URL.Query().Get("token")) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "token", "unauthorized: wrong or missing token")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: AuthCookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		MaxAge: 30 * 24 * 3600,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "encode reply: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, code int, kind, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(ErrorResponse{Error: msg, Kind: kind, Field: field})
}

// writeBackendError maps a node error to a status code.
func writeBackendError(w http.ResponseWriter, err error, field string) {
	switch {
	case errors.Is(err, chain.ErrInsufficientFunds):
		writeError(w, http.StatusUnprocessableEntity, "insufficient_funds", "amount", err.Error())
	case errors.Is(err, chain.ErrBadAddress):
		writeError(w, http.StatusBadRequest, "bad_request", field, err.Error())
	case errors.Is(err, wallet.ErrBadPayment):
		f := "amount"
		if strings.Contains(err.Error(), "fee rate") {
			f = "fee_rate"
		}
		writeError(w, http.StatusBadRequest, "bad_request", f, err.Error())
	case errors.Is(err, node.ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad_request", field, err.Error())
	case errors.Is(err, chain.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", field, err.Error())
	case errors.Is(err, node.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "", err.Error())
	default:
		var re chain.RuleError
		if errors.As(err, &re) && re.Err != chain.ErrStore {
			// A payment the mempool refused (fee too low, ...).
			writeError(w, http.StatusUnprocessableEntity, "rejected", field, err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
	}
}

// decodeBody decodes a JSON request body, which must be one JSON object,
// into v (a pointer to a struct), rejecting unknown fields (keys match the
// field names exactly, case included), wrong types and trailing data with
// a message naming the field.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "bad_request", "", "body must be application/json, not "+ct)
		return false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = checkObject(raw, v)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.More() {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	field, msg := describeJSONError(err)
	writeError(w, http.StatusBadRequest, "bad_request", field, "body: "+msg)
	return false
}

// fieldError is a key of the body that is not a field of the request.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }

// checkObject checks that raw holds a JSON object whose keys are exactly
// (case included: encoding/json alone would take "TO" for "to") the JSON
// names of v's struct fields. Other problems are left to the decoder.
func checkObject(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil // empty or malformed: the decoder names it
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &fieldError{msg: "body must be a JSON object, not " + jsonKind(tok)}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	names := jsonNames(reflect.TypeOf(v))
	for k := range m {
		if names[k] {
			continue
		}
		for n := range names {
			if strings.EqualFold(n, k) {
				return &fieldError{field: k, msg: fmt.Sprintf("unknown field %q (did you mean %q? names are case-sensitive)", k, n)}
			}
		}
		return &fieldError{field: k, msg: fmt.Sprintf("unknown field %q", k)}
	}
	return nil
}

func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// jsonNames are the JSON keys of a struct type (or pointer to one).
func jsonNames(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = true
	}
	return out
}

func describeJSONError(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var mb *http.MaxBytesError
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		return fe.field, fe.msg
	case errors.As(err, &te) && te.Field == "":
		return "", "body must be a JSON object, not " + te.Value
	case errors.As(err, &te):
		return te.Field, fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonTypeName(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return "", fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &mb):
		return "", fmt.Sprintf("larger than %d bytes", mb.Limit)
	case errors.Is(err, io.EOF):
		return "", "empty body (want a JSON object)"
	}
	s := err.Error()
	if f, ok := strings.CutPrefix(s, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return f, fmt.Sprintf("unknown field %q", f)
	}
	return "", s
}

func jsonTypeName(kind string) string {
	switch kind {
	case "uint64", "uint32", "uint", "int", "int64":
		return "a non-negative integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "ptr":
		return "a non-negative integer"
	}
	return kind
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.b.Status())
}

func (s *Server) handleLoss(w http.ResponseWriter, r *http.Request) {
	pts := s.b.LossHistory()
	if pts == nil {
		pts = []node.LossPoint{}
	}
	writeJSON(w, pts)
}

func (s *Server) handleBlocks(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit", fmt.Sprintf("limit %q: want an integer in 1..1000", v))
			return
		}
		limit = n
	}
	bs := s.b.RecentBlocks(limit)
	if bs == nil {
		bs = []node.BlockSummary{}
	}
	writeJSON(w, bs)
}

func (s *Server) handleBlock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	bc := s.b.Chain()
	var blk *chain.Block
	var err error
	if n, perr := strconv.ParseUint(id, 10, 64); perr == nil {
		blk, err = bc.BlockByHeight(n)
		if err != nil {
			writeError(w, http.StatusNotFound, "not_found", "id", fmt.Sprintf("no main-chain block at height %d (tip %d)", n, bc.Tip().Height))
			return
		}
	} else {
		h, perr := chain.ParseHash(id)
		if perr != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "id", fmt.Sprintf("%q is neither a height nor a block hash", id))
			return
		}
		blk, err = bc.BlockByHash(h)
		if err != nil {
			writeError(w, http.StatusNotFound, "not_found", "id", fmt.Sprintf("block %s not known", h))
			return
		}
	}
	p := s.b.Params()
	var owns func(chain.Address) bool
	if wo, ok := s.b.(interface{ Wallet() *wallet.Wallet }); ok && wo.Wallet() != nil {
		owns = wo.Wallet().Owns
	}
	writeJSON(w, NewBlock(p, blk, bc.IsMainChain(blk.Hash()), owns))
}

func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request) {
	sp, im, err := s.b.Balance()
	if err != nil {
		writeBackendError(w, err, "")
		return
	}
	writeJSON(w, NewBalance(sp, im))
}

func (s *Server) handleAddress(w http.ResponseWriter, r *http.Request) {
	a, err := s.b.NewAddress()
	if err != nil {
		writeBackendError(w, err, "")
		return
	}
	writeJSON(w, AddressResponse{Address: a})
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.To == "":
		writeError(w, http.StatusBadRequest, "bad_request", "to", `body: field "to" is required (the payee's address)`)
		return
	case req.Amount == 0:
		writeError(w, http.StatusBadRequest, "bad_request", "amount", `body: field "amount" is required and must be positive (atoms)`)
		return
	}
	if _, err := chain.DecodeAddress(s.b.Params().AddressPrefix, req.To); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "to", fmt.Sprintf("body: field \"to\": %v", err))
		return
	}
	id, err := s.b.Send(req.To, req.Amount, req.FeeRate)
	if err != nil {
		writeBackendError(w, err, "")
		return
	}
	writeJSON(w, SendResponse{TxID: id})
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	h, err := s.b.History()
	if err != nil {
		writeBackendError(w, err, "")
		return
	}
	if h == nil {
		h = []node.WalletTx{}
	}
	writeJSON(w, h)
}

// heightParam parses ?height= (default: the tip).
func (s *Server) heightParam(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	tip := s.b.Chain().Tip().Height
	v := r.URL.Query().Get("height")
	if v == "" {
		return tip, true
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "height", fmt.Sprintf("height %q is not a non-negative integer", v))
		return 0, false
	}
	if n > tip {
		writeError(w, http.StatusNotFound, "not_found", "height", fmt.Sprintf("height %d is above the tip %d", n, tip))
		return 0, false
	}
	return n, true
}

// handleWeights serves the model weights after the block at ?height= as
// little-endian float32 (application/octet-stream); headers name the
// height, block, state root and network.
func (s *Server) handleWeights(w http.ResponseWriter, r *http.Request) {
	height, ok := s.heightParam(w, r)
	if !ok {
		return
	}
	ws, hash, err := s.b.WeightsAt(height)
	if err != nil {
		writeBackendError(w, err, "height")
		return
	}
	hdr, ok := s.b.Chain().HeaderByHash(hash)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "height", "block at that height vanished (reorg); retry")
		return
	}
	buf := make([]byte, 4*len(ws))
	for i, f := range ws {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	h.Set(HeaderHeight, strconv.FormatUint(height, 10))
	h.Set(HeaderBlock, hash.String())
	h.Set(HeaderStateRoot, hdr.StateRoot.String())
	h.Set(HeaderNetwork, s.b.Params().Name)
	w.Write(buf)
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	var req GenerateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Length < 1 || req.Length > 1<<16 {
		writeError(w, http.StatusBadRequest, "bad_request", "length", fmt.Sprintf("body: field \"length\" is %d, want 1..65536", req.Length))
		return
	}
	if req.TopK < 0 || req.TopK > 256 {
		writeError(w, http.StatusBadRequest, "bad_request", "top_k", fmt.Sprintf("body: field \"top_k\" is %d, want 0..256", req.TopK))
		return
	}
	if t := float64(req.Temperature); math.IsNaN(t) || t < 0 || t > 100 {
		writeError(w, http.StatusBadRequest, "bad_request", "temperature", fmt.Sprintf("body: field \"temperature\" is %g, want 0..100 (0: greedy)", req.Temperature))
		return
	}
	bc := s.b.Chain()
	height := bc.Tip().Height
	if req.Height != nil {
		if *req.Height > height {
			writeError(w, http.StatusNotFound, "not_found", "height", fmt.Sprintf("body: field \"height\": height %d is above the tip %d", *req.Height, height))
			return
		}
		height = *req.Height
	}
	hash, _ := bc.HashByHeight(height)
	out, err := s.b.Generate([]byte(req.Prompt), req.Length, node.GenerateOptions{
		Height: &height, Temperature: req.Temperature, TopK: req.TopK, Seed: req.Seed,
	})
	if err != nil {
		writeBackendError(w, err, "")
		return
	}
	writeJSON(w, GenerateResponse{Text: string(out), Height: height, Block: hash})
}
