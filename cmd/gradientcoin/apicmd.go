package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/worker/node"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

// apiClient returns a client for the node running on cfg's data
// directory (rpc.ErrNotRunning if none).
func apiClient(cfg *Config) (*rpc.Client, error) {
	addr := ""
	if cfg.RPCExplicit {
		addr = cfg.RPC
		// A node listening on all interfaces is dialled on loopback.
		// Port 0 (picked at start): the node's URL file says which.
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			if port == "0" {
				addr = ""
			}
		}
	}
	return rpc.ClientForDataDir(cfg.DataDir, addr)
}

// viaNode runs api against the running node's API or, when no node runs
// and offline is not nil, offline against the data directory opened
// directly (sync, training and mining off; read-only unless write). It
// reports which on note.
func viaNode(ctx context.Context, cfg *Config, note io.Writer, write bool, api func(*rpc.Client) error, offline func(*node.Node) error) error {
	if _, err := checkDataDir(cfg); err != nil {
		return err
	}
	c, err := apiClient(cfg)
	if err == nil {
		err = api(c)
		if !errors.Is(err, rpc.ErrNotRunning) {
			return apiError(err)
		}
	}
	if offline == nil {
		return err
	}
	bi := buildInfo()
	n, oerr := node.Open(node.Config{Params: cfg.Params, DataDir: cfg.DataDir, ReadOnly: !write,
		Version: bi.Version, Commit: bi.shortCommit(), Log: zerolog.Nop()})
	if oerr != nil {
		if errors.Is(oerr, node.ErrLocked) {
			return fmt.Errorf("%v; and its API does not answer (%v)", oerr, apiError(err))
		}
		return fmt.Errorf("%s", strings.TrimPrefix(oerr.Error(), "node: "))
	}
	if note != nil {
		fmt.Fprintf(note, "(no node running: read %s directly)\n", cfg.DataDir)
	}
	ferr := offline(n)
	if cerr := n.Close(); ferr == nil && cerr != nil {
		ferr = cerr
	}
	return ferr
}

// apiError strips redundant prefixes of an API error.
func apiError(err error) error {
	var ae *rpc.APIError
	if errors.As(err, &ae) && ae.Status == 401 {
		return fmt.Errorf("the node refused the API token (401): the cookie file is stale or from another node")
	}
	if errors.Is(err, rpc.ErrNotRunning) {
		return notRunning{err}
	}
	return err
}

// notRunning is rpc.ErrNotRunning without the package's "rpc: " prefix.
type notRunning struct{ error }

func (e notRunning) Error() string { return strings.TrimPrefix(e.error.Error(), "rpc: ") }
func (e notRunning) Unwrap() error { return e.error }

func cmdStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "status", `status [--json] [--url] [--network N] [--datadir D] [--rpc ADDR]

Shows the running node's status from its API (the token is read from the
data directory's .cookie file). --json prints the API's status object;
--url prints a URL that opens the status page in a browser (it carries the
token: treat it like a password).`, groupBase|groupRPC)
	asJSON := fs.Bool("json", false, "print JSON")
	asURL := fs.Bool("url", false, "print the status page URL (with the login token)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	if *asJSON && *asURL {
		return usageErrorf("status: --json and --url exclude each other")
	}
	cfg, err := fs.resolve(env)
	if err != nil {
		return err
	}
	if _, err := checkDataDir(cfg); err != nil {
		return err
	}
	c, err := apiClient(cfg)
	if err != nil {
		return apiError(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return apiError(err)
	}
	switch {
	case *asURL:
		fmt.Fprintf(env.stdout, "%s/login?token=%s\n", c.BaseURL, c.Token)
		return nil
	case *asJSON:
		return json.NewEncoder(env.stdout).Encode(st)
	}
	printStatus(env.stdout, st, c.BaseURL)
	return nil
}

func printStatus(w io.Writer, s node.Status, api string) {
	age := humanAge(time.Since(time.Unix(s.TipTime, 0)))
	fmt.Fprintf(w, "network   %s (genesis %s)\n", s.Network, short(s.Genesis))
	fmt.Fprintf(w, "height    %d  tip %s  (%s ago)\n", s.Height, short(s.Tip), age)
	fmt.Fprintf(w, "state     root %s\n", short(s.StateRoot))
	sync := "in sync"
	switch {
	case !s.SyncOn:
		sync = "offline (sync off)"
	case s.Syncing:
		sync = "syncing"
	case s.Peers == 0:
		sync = "no peers: mining alone; check --bootstrap and --listen"
	}
	fmt.Fprintf(w, "peers     %d (%s)\n", s.Peers, sync)
	fmt.Fprintf(w, "mining    %s  %s while mining, %s effective (over wall time) on %s\n", onOff(s.MineOn, s.Mining), formatRate(s.MiningHashrate), formatRate(s.Hashrate), s.Device)
	loss := "not measured yet"
	if s.Loss != nil {
		loss = fmt.Sprintf("%.4f at height %d", *s.Loss, s.LossHeight)
	}
	fmt.Fprintf(w, "training  %s  validation loss %s\n", onOff(s.TrainOn, s.Training), loss)
	fmt.Fprintf(w, "balance   %s GC spendable, %s GC immature\n", rpc.FormatCoins(s.Balance), rpc.FormatCoins(s.Immature))
	fmt.Fprintf(w, "mempool   %d txs\n", s.MempoolTxs)
	fmt.Fprintf(w, "node      %s, up %s, datadir %s\n", s.Version, time.Duration(s.Uptime*float64(time.Second)).Round(time.Second), s.DataDir)
	fmt.Fprintf(w, "api       %s (page: gradientcoin status --url)\n", api)
}

// humanAge renders a duration for people: seconds up to minutes, days
// beyond two days.
func humanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d > 48*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d > time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

func onOff(enabled, active bool) string {
	switch {
	case !enabled:
		return "off"
	case active:
		return "on (active)"
	}
	return "on (idle)"
}

func formatRate(hs float64) string {
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s"}
	i := 0
	for hs >= 1000 && i < len(units)-1 {
		hs /= 1000
		i++
	}
	return strconv.FormatFloat(hs, 'f', 2, 64) + " " + units[i]
}

func cmdWallet(ctx context.Context, env *cliEnv, args []string) error {
	const usage = `wallet <address|balance|send|history> [flags]

  address              a fresh receiving address
  balance              spendable and immature coins
  send ADDRESS AMOUNT  pay AMOUNT coins (decimal, e.g. 1.5) to ADDRESS;
                       needs the running node (it relays the payment)
  history              the wallet's transactions

address, balance and history ask the running node's API, or open the data
directory directly when no node runs. Every subcommand takes -h.`
	if len(args) == 0 {
		return usageErrorf("wallet: missing subcommand (address, balance, send or history; see 'gradientcoin wallet -h')")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help":
		fmt.Fprintf(env.stdout, "Usage: gradientcoin %s\n", usage)
		return errHelp
	case "address", "balance", "send", "history":
	default:
		return usageErrorf("wallet: unknown subcommand %q (address, balance, send or history)", sub)
	}
	var fs *flagSet
	switch sub {
	case "address":
		fs = newFlagSet(env, "wallet address", "wallet address [--json]\n\nPrints a fresh receiving address of the node's wallet (a new key per payment).", groupBase|groupRPC)
	case "balance":
		fs = newFlagSet(env, "wallet balance", "wallet balance [--json]\n\nPrints the spendable and immature (young coinbases, pending payments) balance.", groupBase|groupRPC)
	case "history":
		fs = newFlagSet(env, "wallet history", "wallet history [--json]\n\nLists the wallet's transactions, oldest first, then pending ones.", groupBase|groupRPC)
	case "send":
		fs = newFlagSet(env, "wallet send", "wallet send ADDRESS AMOUNT [--fee-rate N] [--atoms] [--json]\n\nPays AMOUNT coins (up to 8 decimals) to ADDRESS with change to a fresh\naddress, through the running node, which relays the payment to its peers.", groupBase|groupRPC)
	}
	asJSON := fs.Bool("json", false, "print JSON")
	var feeRate *uint64
	var atoms *bool
	if sub == "send" {
		feeRate = fs.Uint64("fee-rate", 0, "fee rate in atoms per byte (0: the mempool's minimum)")
		atoms = fs.Bool("atoms", false, "AMOUNT is in atoms, not coins")
	}
	pos, err := fs.parse(rest)
	if err != nil {
		return err
	}
	want := 0
	if sub == "send" {
		want = 2
	}
	if len(pos) != want {
		if sub == "send" {
			return usageErrorf("wallet send: want ADDRESS AMOUNT, got %d arguments (see 'gradientcoin wallet send -h')", len(pos))
		}
		return unexpectedArg("wallet "+sub, pos[0])
	}
	cfg, err := fs.resolve(env)
	if err != nil {
		return err
	}
	out := env.stdout
	note := env.stderr
	if *asJSON {
		note = nil
	}
	switch sub {
	case "address":
		var addr string
		err := viaNode(ctx, cfg, note, true,
			func(c *rpc.Client) (err error) { addr, err = c.NewAddress(ctx); return },
			func(n *node.Node) (err error) { addr, err = n.NewAddress(); return })
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(rpc.AddressResponse{Address: addr})
		}
		fmt.Fprintln(out, addr)
	case "balance":
		var b rpc.Balance
		err := viaNode(ctx, cfg, note, false,
			func(c *rpc.Client) (err error) { b, err = c.Balance(ctx); return },
			func(n *node.Node) error {
				sp, im, err := n.Balance()
				b = rpc.NewBalance(sp, im)
				return err
			})
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(b)
		}
		fmt.Fprintf(out, "spendable  %s GC\nimmature   %s GC\ntotal      %s GC\n", b.SpendableCoins, b.ImmatureCoins, b.TotalCoins)
	case "history":
		var h []node.WalletTx
		err := viaNode(ctx, cfg, note, false,
			func(c *rpc.Client) (err error) { h, err = c.History(ctx); return },
			func(n *node.Node) (err error) { h, err = n.History(); return })
		if err != nil {
			return err
		}
		if *asJSON {
			if h == nil {
				h = []node.WalletTx{}
			}
			return json.NewEncoder(out).Encode(h)
		}
		printHistory(out, h)
	case "send":
		to := pos[0]
		if _, err := chain.DecodeAddress(cfg.Params.AddressPrefix, to); err != nil {
			return fmt.Errorf("wallet send: %v", err)
		}
		amount, err := parseAmount(pos[1], *atoms)
		if err != nil {
			return usageErrorf("wallet send: amount %q: %v", pos[1], err)
		}
		var id chain.Hash
		err = viaNode(ctx, cfg, nil, false, func(c *rpc.Client) (err error) {
			id, err = c.Send(ctx, rpc.SendRequest{To: to, Amount: amount, FeeRate: *feeRate})
			return
		}, nil)
		if errors.Is(err, rpc.ErrNotRunning) {
			return fmt.Errorf("wallet send: needs the running node to relay the payment (%v)", apiError(err))
		}
		if err != nil {
			return fmt.Errorf("wallet send: %v", err)
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(rpc.SendResponse{TxID: id})
		}
		fmt.Fprintf(out, "sent %s GC to %s\ntxid %s\n", rpc.FormatCoins(amount), to, id)
	}
	return nil
}

func printHistory(w io.Writer, h []node.WalletTx) {
	if len(h) == 0 {
		fmt.Fprintln(w, "no transactions")
		return
	}
	fmt.Fprintf(w, "%-8s %-19s %-16s %16s %8s  %s\n", "HEIGHT", "TIME", "TXID", "AMOUNT (GC)", "CONF", "KIND")
	for _, t := range h {
		height, when, conf := strconv.FormatUint(t.Height, 10), "", strconv.FormatUint(t.Confirmations, 10)
		if t.Time > 0 {
			when = time.Unix(t.Time, 0).Local().Format("2006-01-02 15:04:05")
		}
		kind := "payment"
		switch {
		case t.Coinbase:
			kind = "mined"
		case t.Pending:
			kind, height, conf = "pending", "-", "0"
		}
		sign := "+"
		amt := t.Received - min(t.Received, t.Sent)
		if t.Sent > t.Received {
			sign, amt = "-", t.Sent-t.Received
		}
		fmt.Fprintf(w, "%-8s %-19s %-16s %16s %8s  %s\n", height, when, t.TxID.String()[:16], sign+rpc.FormatCoins(amt), conf, kind)
	}
}

// parseAmount parses a decimal coin amount (or atoms) into atoms.
func parseAmount(s string, atoms bool) (uint64, error) {
	if atoms {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return 0, errors.New("want a positive whole number of atoms")
		}
		return n, nil
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" && !hasFrac || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, errors.New("want a positive decimal number of coins, e.g. 1.5")
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, errors.New("want a positive decimal number of coins, e.g. 1.5")
	}
	if len(frac) > 8 {
		return 0, errors.New("more than 8 decimals (1 atom = 0.00000001 coin)")
	}
	var f uint64
	if frac != "" {
		f, err = strconv.ParseUint(frac+strings.Repeat("0", 8-len(frac)), 10, 64)
		if err != nil {
			return 0, errors.New("want a positive decimal number of coins, e.g. 1.5")
		}
	}
	if w > (^uint64(0)-f)/chain.AtomsPerCoin {
		return 0, errors.New("too large")
	}
	n := w*chain.AtomsPerCoin + f
	if n == 0 {
		return 0, errors.New("must be positive")
	}
	return n, nil
}
