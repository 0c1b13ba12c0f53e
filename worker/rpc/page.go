package rpc

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
	"path"
	"strings"

	"github.com/gradientcoin/gradientcoin/worker/node"
)

// static holds the status page: HTML, CSS and JavaScript, no external
// assets.
//
//go:embed static
var static embed.FS

// pageData is the first render's data, embedded in the page so it shows
// real values before (and without) the first fetch.
type pageData struct {
	Status node.Status         `json:"status"`
	Loss   []node.LossPoint    `json:"loss"`
	Blocks []node.BlockSummary `json:"blocks"`
	Build  BuildInfo           `json:"build"`
}

// contentSecurityPolicy allows only this origin: the page loads its own
// script and style and talks to its own API.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	tmpl, err := static.ReadFile("static/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	d := pageData{Status: s.b.Status(), Loss: s.b.LossHistory(), Blocks: s.b.RecentBlocks(12), Build: s.cfg.Build}
	if d.Loss == nil {
		d.Loss = []node.LossPoint{}
	}
	if d.Blocks == nil {
		d.Blocks = []node.BlockSummary{}
	}
	js, err := json.Marshal(d) // escapes <, > and & (safe inside <script>)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	page := bytes.Replace(tmpl, []byte("{{INITIAL}}"), js, 1)
	page = bytes.ReplaceAll(page, []byte("{{NETWORK}}"), []byte(htmlEscape(d.Status.Network)))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	w.Write(page)
}

func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || strings.Contains(name, "/") {
		writeError(w, http.StatusNotFound, "not_found", "", "no such file")
		return
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "", "no such file")
		return
	}
	switch path.Ext(name) {
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Write(b)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}
