package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

// Client talks to a node's API.
type Client struct {
	// BaseURL is http://host:port (no trailing slash).
	BaseURL string
	// Token is the API token (the cookie file's content).
	Token string
	// HTTP is the client used (default: one with a 5-minute timeout).
	HTTP *http.Client
}

// ClientForDataDir returns a client for the node running on data
// directory dir: the token from its CookieFile and the URL from its
// URLFile, unless addr (host:port) is given. A missing cookie file is
// ErrNotRunning.
func ClientForDataDir(dir, addr string) (*Client, error) {
	tok, err := os.ReadFile(filepath.Join(dir, CookieFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w on %s (no %s file; start one with 'gradientcoin run')", ErrNotRunning, dir, CookieFile)
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: read cookie: %w", err)
	}
	base := ""
	if addr != "" {
		base = "http://" + addr
	} else {
		u, err := os.ReadFile(filepath.Join(dir, URLFile))
		if err != nil {
			return nil, fmt.Errorf("%w on %s (no %s file)", ErrNotRunning, dir, URLFile)
		}
		base = strings.TrimSpace(string(u))
	}
	return &Client{BaseURL: strings.TrimRight(base, "/"), Token: strings.TrimSpace(string(tok))}, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 5 * time.Minute}
}

// do sends a request and returns the response if it is 2xx; otherwise an
// *APIError (or ErrNotRunning when nothing answers).
func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s (the API does not answer: %v)", ErrNotRunning, c.BaseURL, unwrapURLErr(err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var er ErrorResponse
	if json.Unmarshal(b, &er) != nil || er.Error == "" {
		er.Error = fmt.Sprintf("HTTP %d from %s %s", resp.StatusCode, method, path)
	}
	return nil, &APIError{Status: resp.StatusCode, Kind: er.Kind, Field: er.Field, Message: er.Error}
}

func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// getJSON GETs path and decodes the reply into v.
func (c *Client) call(ctx context.Context, method, path string, body, v any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return errorf(ErrServer, "decode reply of %s: %v", path, err)
	}
	return nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (node.Status, error) {
	var s node.Status
	err := c.call(ctx, http.MethodGet, "/api/v1/status", nil, &s)
	return s, err
}

// Loss returns the loss history.
func (c *Client) Loss(ctx context.Context) ([]node.LossPoint, error) {
	var v []node.LossPoint
	err := c.call(ctx, http.MethodGet, "/api/v1/loss", nil, &v)
	return v, err
}

// RecentBlocks returns up to limit main-chain blocks, the tip first.
func (c *Client) RecentBlocks(ctx context.Context, limit int) ([]node.BlockSummary, error) {
	var v []node.BlockSummary
	err := c.call(ctx, http.MethodGet, "/api/v1/blocks?limit="+strconv.Itoa(limit), nil, &v)
	return v, err
}

// Block returns a block by height or hash (id).
func (c *Client) Block(ctx context.Context, id string) (Block, error) {
	var v Block
	err := c.call(ctx, http.MethodGet, "/api/v1/blocks/"+url.PathEscape(id), nil, &v)
	return v, err
}

// Balance returns the wallet's balance.
func (c *Client) Balance(ctx context.Context) (Balance, error) {
	var v Balance
	err := c.call(ctx, http.MethodGet, "/api/v1/wallet/balance", nil, &v)
	return v, err
}

// NewAddress returns a fresh receiving address.
func (c *Client) NewAddress(ctx context.Context) (string, error) {
	var v AddressResponse
	err := c.call(ctx, http.MethodPost, "/api/v1/wallet/address", struct{}{}, &v)
	return v.Address, err
}

// Send pays amount atoms to an address.
func (c *Client) Send(ctx context.Context, req SendRequest) (chain.Hash, error) {
	var v SendResponse
	err := c.call(ctx, http.MethodPost, "/api/v1/wallet/send", req, &v)
	return v.TxID, err
}

// History returns the wallet's transactions.
func (c *Client) History(ctx context.Context) ([]node.WalletTx, error) {
	var v []node.WalletTx
	err := c.call(ctx, http.MethodGet, "/api/v1/wallet/history", nil, &v)
	return v, err
}

// Generate continues a prompt with the model.
func (c *Client) Generate(ctx context.Context, req GenerateRequest) (GenerateResponse, error) {
	var v GenerateResponse
	err := c.call(ctx, http.MethodPost, "/api/v1/generate", req, &v)
	return v, err
}

// WeightsInfo describes weights fetched from the API.
type WeightsInfo struct {
	Network   string
	Height    uint64
	Block     chain.Hash
	StateRoot chain.Hash
}

// Weights fetches the model weights after the block at height (nil: the
// tip).
func (c *Client) Weights(ctx context.Context, height *uint64) ([]float32, WeightsInfo, error) {
	path := "/api/v1/weights"
	if height != nil {
		path += "?height=" + strconv.FormatUint(*height, 10)
	}
	var info WeightsInfo
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, info, err
	}
	defer resp.Body.Close()
	info.Network = resp.Header.Get(HeaderNetwork)
	info.Height, err = strconv.ParseUint(resp.Header.Get(HeaderHeight), 10, 64)
	if err == nil {
		info.Block, err = chain.ParseHash(resp.Header.Get(HeaderBlock))
	}
	if err == nil {
		info.StateRoot, err = chain.ParseHash(resp.Header.Get(HeaderStateRoot))
	}
	if err != nil {
		return nil, info, errorf(ErrServer, "weights reply headers: %v", err)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, info, errorf(ErrServer, "read weights: %v", err)
	}
	if len(raw)%4 != 0 {
		return nil, info, errorf(ErrServer, "weights reply of %d bytes is not whole float32s", len(raw))
	}
	w := make([]float32, len(raw)/4)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return w, info, nil
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
