package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/worker/node"
	"github.com/gradientcoin/gradientcoin/worker/rpc"
)

// configTemplate is written to a new data directory: every key commented
// out at its default.
const configTemplate = `# GradientCoin node configuration (%s).
# Precedence: command-line flags > GRADIENTCOIN_* environment > this file > defaults.
# Unknown keys are errors. See 'gradientcoin help config'.

# network = "%s"
# rpc = "127.0.0.1:%d"        # local API (loopback only unless rpc_allow_remote)
# rpc_allow_remote = false
# listen = []                 # p2p multiaddrs; default: TCP and QUIC on port %d
# bootstrap = []              # peer multiaddrs with /p2p/<id>
# no_discovery = false
# sync = true
# train = true
# mine = true
# threads = 0                 # 0: all cores
# gpu = false                 # CUDA (gccuda builds)
# data = ""                   # training text file or folder; "": the built-in corpus
# log_level = "info"
# log_format = "auto"         # auto | console | json
`

func cmdInit(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "init", `init [--network N] [--datadir D]

Creates a data directory for a network: the block store with the genesis
block, a wallet with a fresh random seed (wallet.json, 0600: back it up),
the p2p identity key, and a commented config.toml. Refuses a directory that
already holds a node.`, groupBase)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	cfg, err := fs.resolve(env)
	if err != nil {
		return err
	}
	if err := initDataDir(cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "initialised a %s data directory: %s\n  genesis  %s\n  wallet   %s (back it up: it holds the seed)\n  config   %s\nnext: gradientcoin run --network %s",
		cfg.Network, cfg.DataDir, cfg.Params.GenesisHash, filepath.Join(cfg.DataDir, node.WalletFile), filepath.Join(cfg.DataDir, ConfigFile), cfg.Network)
	if !cfg.DataDirDefault {
		fmt.Fprintf(env.stdout, " --datadir %s", cfg.DataDir)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

// initDataDir creates cfg's data directory and its config template.
func initDataDir(cfg *Config) error {
	if err := node.Init(cfg.DataDir, cfg.Params); err != nil {
		for _, kind := range []error{node.ErrAlreadyInitialized, node.ErrIncomplete} {
			if errors.Is(err, kind) {
				return fmt.Errorf("init: %s", strings.TrimPrefix(err.Error(), kind.Error()+": "))
			}
		}
		return fmt.Errorf("init: %s", strings.TrimPrefix(err.Error(), "node: "))
	}
	path := filepath.Join(cfg.DataDir, ConfigFile)
	if _, err := os.Stat(path); errors.Is(err, iofs.ErrNotExist) {
		p := cfg.Params
		text := fmt.Sprintf(configTemplate, p.Name, p.Name, p.DefaultPort+1, p.DefaultPort)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return fmt.Errorf("init: write %s: %w", path, err)
		}
	}
	return nil
}

func cmdRun(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "run", `run [flags]

Runs a full node: syncs the chain from peers, trains the model on local
data, mines blocks, and serves the local HTTP API and status page
(gradientcoin status --url prints its address with the token). Stops
cleanly on SIGINT or SIGTERM (a second signal exits at once).

Syncing, training and mining are on by default; --sync=false,
--train=false and --mine=false turn each off.`, groupBase|groupLog|groupRPC|groupNode)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	cfg, err := fs.resolve(env)
	if err != nil {
		return err
	}
	log := newLogger(env.stderr, env.isTerminal, cfg.LogLevel, cfg.LogFormat)
	if cfg.Init {
		// --init: create the data directory if it is missing or empty of
		// a node (a fresh container volume), else use it as it is.
		if _, _, err := node.DataDirNetwork(cfg.DataDir); errors.Is(err, node.ErrNoDataDir) || errors.Is(err, node.ErrNotInitialized) {
			if err := initDataDir(cfg); err != nil {
				return err
			}
			log.Info().Str("datadir", cfg.DataDir).Str("network", cfg.Network).Msg("initialised a new data directory (--init)")
		}
	}
	if _, err := checkDataDir(cfg); err != nil {
		return err
	}
	// The API's address is bound before the node opens: a port in use
	// fails here, before anything in the data directory is touched.
	ln, err := rpc.Listen(cfg.RPC, cfg.RPCAllowRemote)
	if err != nil {
		return fmt.Errorf("%s %s: %s", srcName(cfg.sources["rpc"], "--rpc"), cfg.RPC, rpcListenError(err))
	}
	bi := buildInfo()
	n, err := node.Open(node.Config{
		Params:      cfg.Params,
		DataDir:     cfg.DataDir,
		Listen:      cfg.Listen,
		Bootstrap:   bootstrapOrNil(cfg),
		NoDiscovery: cfg.NoDiscovery,
		Sync:        cfg.Sync,
		Train:       cfg.Train,
		Mine:        cfg.Mine,
		Threads:     cfg.Threads,
		UseGPU:      cfg.GPU,
		DataPath:    cfg.Data,
		Version:     bi.Version,
		Commit:      bi.shortCommit(),
		Log:         log,
	})
	if err != nil {
		ln.Close()
		return nodeError(err)
	}
	srv, err := rpc.New(rpc.Config{
		Backend:     n,
		Addr:        cfg.RPC,
		AllowRemote: cfg.RPCAllowRemote,
		Listener:    ln,
		DataDir:     cfg.DataDir,
		Build:       rpc.BuildInfo{Version: bi.Version, Commit: bi.shortCommit(), Go: bi.GoVersion, CUDA: bi.CUDA},
		Log:         log.With().Str("module", "api").Logger(),
	})
	if err != nil {
		ln.Close()
		n.Close()
		return fmt.Errorf("%s %s: %s", srcName(cfg.sources["rpc"], "--rpc"), cfg.RPC, rpcListenError(err))
	}
	st := n.Status()
	banner(log, cfg, bi, st, srv)
	if host, _, err := splitHostPort(srv.ListenAddr()); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			log.Warn().Str("api_listen", srv.ListenAddr()).
				Msg("the API listens beyond this machine (--rpc-allow-remote): anyone who can reach " + srv.ListenAddr() + " and has the cookie's token controls the wallet; keep it behind a firewall")
		}
	}
	srv.Start()

	// On a signal: stop the API first (no request sees a closing node),
	// then the node (Run stops mining, flushes and closes the store).
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	go func() {
		select {
		case <-ctx.Done():
			log.Info().Msg("signal received: stopping (a second signal exits at once)")
		case <-runCtx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Close(sctx)
		cancel()
		stopRun()
	}()
	start := time.Now()
	err = n.Run(runCtx)
	stopRun()
	srv.Close(context.Background())
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	log.Info().Int64("uptime_s", int64(time.Since(start).Round(time.Second)/time.Second)).Msg("bye")
	return nil
}

// bootstrapOrNil passes nil (the network's bootstrap peers) unless the
// list was configured.
func bootstrapOrNil(cfg *Config) []string {
	if cfg.sources["bootstrap"] == "default" {
		return nil
	}
	if cfg.Bootstrap == nil {
		return []string{}
	}
	return cfg.Bootstrap
}

// banner logs what the node is: network, genesis, device, data directory,
// API.
func banner(log zerolog.Logger, cfg *Config, bi BuildInfo, st node.Status, srv *rpc.Server) {
	modes := []string{}
	for _, m := range []struct {
		on   bool
		name string
	}{{cfg.Sync, "sync"}, {cfg.Train, "train"}, {cfg.Mine, "mine"}} {
		if m.on {
			modes = append(modes, m.name)
		}
	}
	if len(modes) == 0 {
		modes = append(modes, "offline")
	}
	log.Info().
		Str("version", bi.Version).Str("commit", bi.shortCommit()).Bool("cuda", bi.CUDA).
		Str("network", cfg.Network).Str("genesis", cfg.Params.GenesisHash.String()).
		Str("device", st.Device).Str("datadir", cfg.DataDir).
		Uint64("height", st.Height).Str("modes", strings.Join(modes, "+")).
		Str("peer_id", st.PeerID).Strs("p2p", st.Addrs).
		Str("api", srv.URL()).Str("api_listen", srv.ListenAddr()).Str("cookie", filepath.Join(cfg.DataDir, rpc.CookieFile)).
		Msg("gradientcoin node started (status page: gradientcoin status --url)")
}

// nodeError turns a node.Open error into the CLI's one-line message.
func nodeError(err error) error {
	switch {
	case errors.Is(err, node.ErrLocked):
		return fmt.Errorf("%v (is a node already running on it?)", err)
	}
	return err
}

// rpcListenError is the API listen error without the package's prefix,
// with a hint for a port in use.
func rpcListenError(err error) string {
	msg := strings.TrimPrefix(err.Error(), rpc.ErrConfig.Error()+": ")
	msg = strings.TrimPrefix(msg, rpc.ErrRemoteAddr.Error()+": ")
	if strings.Contains(msg, "address already in use") {
		msg += " (is another node running? --rpc 127.0.0.1:0 picks a free port)"
	}
	return msg
}
