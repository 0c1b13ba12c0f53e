package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/gpu"
	"github.com/gradientcoin/gradientcoin/net/p2p"
	"github.com/gradientcoin/gradientcoin/worker/node"
)

// ConfigFile is the name of the optional configuration file in a data
// directory.
const ConfigFile = "config.toml"

// defaultNetwork is the network used when none is named anywhere.
const defaultNetwork = chain.MainnetName

// Config is the resolved configuration of a command: every option after
// flags > GRADIENTCOIN_* environment > <datadir>/config.toml > defaults.
type Config struct {
	Network        string
	Params         *chain.Params
	DataDir        string
	DataDirDefault bool // DataDir is the per-OS default, not given

	RPC            string // host:port of the local API
	RPCAllowRemote bool
	RPCExplicit    bool // RPC was given (flag, env or file), not the default

	Listen      []string
	Bootstrap   []string
	NoDiscovery bool
	Mine        bool
	Train       bool
	Sync        bool
	Threads     int
	GPU         bool
	Data        string
	Init        bool

	LogLevel  string
	LogFormat string

	// sources records where each option's value came from (flag, env,
	// file, default), for error messages.
	sources map[string]string
}

// optGroup selects which options a command accepts.
type optGroup uint8

const (
	groupBase optGroup = 1 << iota // network, datadir
	groupLog                       // log-level, log-format (commands that log)
	groupRPC                       // rpc, rpc-allow-remote
	groupNode                      // listen, bootstrap, mine, train, ...
)

type optKind uint8

const (
	kindString optKind = iota
	kindBool
	kindInt
	kindList
)

// option is one configuration setting with its flag, environment variable
// and config-file key.
type option struct {
	name  string // flag name (also the key of Config.sources)
	group optGroup
	kind  optKind
	usage string
	// def returns the default, given the network.
	def func(network string) string
	// set stores a value (already checked to be of kind) into c.
	set func(c *Config, v string) error
}

func (o option) envName() string {
	return "GRADIENTCOIN_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

func (o option) fileKey() string { return strings.ReplaceAll(o.name, "-", "_") }

func constDef(s string) func(string) string { return func(string) string { return s } }

// options is every setting. network and datadir are resolved first (the
// datadir's default and its config file depend on them).
var options = []option{
	{name: "network", group: groupBase, kind: kindString,
		usage: "network: " + strings.Join(chain.NetworkNames(), "|") + " (default: the data directory's, else " + defaultNetwork + ")",
		def:   constDef(defaultNetwork),
		set: func(c *Config, v string) error {
			p, err := chain.ParamsByName(v)
			if err != nil {
				return fmt.Errorf("unknown network %q (known: %s)", v, strings.Join(chain.NetworkNames(), ", "))
			}
			c.Network, c.Params = v, p
			return nil
		}},
	{name: "datadir", group: groupBase, kind: kindString,
		usage: "data directory (default: per OS and network, e.g. ~/.local/share/gradientcoin/<network>)",
		def:   func(network string) string { return defaultDataDir(network) },
		set: func(c *Config, v string) error {
			if v == "" {
				return errors.New("empty path")
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			c.DataDir = abs
			return nil
		}},
	{name: "log-level", group: groupLog, kind: kindString, usage: "log level: trace|debug|info|warn|error",
		def: constDef("info"),
		set: func(c *Config, v string) error {
			switch v {
			case "trace", "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("unknown log level %q (known: trace, debug, info, warn, error)", v)
		}},
	{name: "log-format", group: groupLog, kind: kindString,
		usage: "log format: auto (console on a terminal, else json)|console|json", def: constDef("auto"),
		set: func(c *Config, v string) error {
			switch v {
			case "auto", "console", "json":
				c.LogFormat = v
				return nil
			}
			return fmt.Errorf("unknown log format %q (known: auto, console, json)", v)
		}},
	{name: "rpc", group: groupRPC, kind: kindString,
		usage: "local API address host:port (loopback only unless --rpc-allow-remote; port 0 picks one)",
		def: func(network string) string {
			p, err := chain.ParamsByName(network)
			if err != nil {
				return "127.0.0.1:0"
			}
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.DefaultPort+1))
		},
		set: func(c *Config, v string) error {
			if _, _, err := splitHostPort(v); err != nil {
				return err
			}
			c.RPC = v
			return nil
		}},
	{name: "rpc-allow-remote", group: groupRPC, kind: kindBool,
		usage: "allow --rpc on a non-loopback address (anyone who can reach it and has the cookie controls the wallet)",
		def:   constDef("false"),
		set:   func(c *Config, v string) error { c.RPCAllowRemote = v == "true"; return nil }},
	{name: "listen", group: groupNode, kind: kindList,
		usage: "p2p listen multiaddrs, comma-separated (default: TCP and QUIC on all interfaces at the network's port)",
		def:   constDef(""),
		set: func(c *Config, v string) error {
			c.Listen = splitList(v)
			for _, a := range c.Listen {
				if _, err := ma.NewMultiaddr(a); err != nil {
					return fmt.Errorf("%q is not a multiaddr (e.g. /ip4/0.0.0.0/tcp/8633): %v", a, err)
				}
			}
			return nil
		}},
	{name: "bootstrap", group: groupNode, kind: kindList,
		usage: "bootstrap peer multiaddrs (/ip4/…/tcp/…/p2p/<id>), comma-separated (default: the network's)",
		def: func(network string) string {
			if p, err := chain.ParamsByName(network); err == nil {
				return strings.Join(p.Bootstrap, ",")
			}
			return ""
		},
		set: func(c *Config, v string) error {
			c.Bootstrap = splitList(v)
			if _, err := p2p.ParseAddrs(c.Bootstrap); err != nil {
				return fmt.Errorf("bad peer address (want /ip4/…/tcp/…/p2p/<peer id>): %v", err)
			}
			return nil
		}},
	{name: "no-discovery", group: groupNode, kind: kindBool, usage: "no mDNS or DHT discovery (bootstrap peers only)",
		def: constDef("false"),
		set: func(c *Config, v string) error { c.NoDiscovery = v == "true"; return nil }},
	{name: "sync", group: groupNode, kind: kindBool, usage: "sync the chain from peers (default true; --sync=false: offline)", def: constDef("true"),
		set: func(c *Config, v string) error { c.Sync = v == "true"; return nil }},
	{name: "train", group: groupNode, kind: kindBool, usage: "train the model and contribute updates (default true; --train=false: empty-gradient blocks)", def: constDef("true"),
		set: func(c *Config, v string) error { c.Train = v == "true"; return nil }},
	{name: "mine", group: groupNode, kind: kindBool, usage: "mine blocks (default true; --mine=false: no mining)", def: constDef("true"),
		set: func(c *Config, v string) error { c.Mine = v == "true"; return nil }},
	{name: "threads", group: groupNode, kind: kindInt, usage: "CPU threads for mining and training (0: all cores)",
		def: constDef("0"),
		set: func(c *Config, v string) error {
			n, _ := strconv.Atoi(v)
			if n < 0 || n > 4096 {
				return fmt.Errorf("threads %d out of range (0..4096)", n)
			}
			c.Threads = n
			return nil
		}},
	{name: "gpu", group: groupNode, kind: kindBool,
		usage: "use CUDA GPUs for mining and training (default: on in a gccuda build, falling back to the CPU without a device)",
		def:   func(string) string { return strconv.FormatBool(gpu.Available()) },
		set: func(c *Config, v string) error {
			if v == "true" && !gpu.Available() {
				return errors.New("this binary was built without CUDA (build with -tags gccuda, e.g. make build-cuda)")
			}
			c.GPU = v == "true"
			return nil
		}},
	{name: "data", group: groupNode, kind: kindString, usage: "training text: a file or folder (default: the built-in corpus; relative in config.toml: to the data directory)",
		def: constDef(""),
		set: func(c *Config, v string) error {
			if v == "" {
				c.Data = ""
				return nil
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			if _, err := os.Stat(abs); err != nil {
				return fmt.Errorf("training data %s: %w", abs, unwrapPathErr(err))
			}
			c.Data = abs
			return nil
		}},
	{name: "init", group: groupNode, kind: kindBool,
		usage: "create the data directory first if it does not exist (e.g. in a container)", def: constDef("false"),
		set: func(c *Config, v string) error { c.Init = v == "true"; return nil }},
}

// flagSet is a command's flags: the common options of its groups and its
// own flags.
type flagSet struct {
	*flag.FlagSet
	groups optGroup
	vals   map[string]*string // option name → raw flag value
	set    map[string]bool    // options given on the command line
	help   func()             // prints the usage (-h)
	// autoNetwork: without --network, a command may use the only
	// network whose default data directory exists (not init).
	autoNetwork bool
}

// newFlagSet makes the flag set of a command. usage is printed by -h
// before the flags.
func newFlagSet(env *cliEnv, name, usage string, groups optGroup) *flagSet {
	fs := &flagSet{
		FlagSet:     flag.NewFlagSet("gradientcoin "+name, flag.ContinueOnError),
		groups:      groups,
		vals:        map[string]*string{},
		set:         map[string]bool{},
		autoNetwork: name != "init",
	}
	fs.SetOutput(io.Discard)
	// The flag package calls Usage on every parse error too: parse prints
	// the help for -h only (help), and one line for an error.
	fs.Usage = func() {}
	for _, o := range options {
		if o.group&groups == 0 {
			continue
		}
		v := new(string)
		fs.vals[o.name] = v
		if o.kind == kindBool {
			fs.Var(boolString{v}, o.name, o.usage)
		} else {
			fs.StringVar(v, o.name, "", o.usage)
		}
	}
	fs.help = func() {
		w := env.stdout
		fmt.Fprintf(w, "Usage: gradientcoin %s\n", strings.TrimSpace(usage))
		var own, common strings.Builder
		fs.VisitAll(func(f *flag.Flag) {
			if _, ok := fs.vals[f.Name]; ok {
				return
			}
			name, help := flag.UnquoteUsage(f)
			arg := "--" + f.Name
			if len(f.Name) == 1 {
				arg = "-" + f.Name
			}
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool && name != "" {
				arg += " " + strings.ToUpper(name)
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				help += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(&own, "  %-24s %s\n", arg, help)
		})
		for _, o := range options {
			if o.group&groups == 0 {
				continue
			}
			arg := "--" + o.name
			switch o.kind {
			case kindString:
				arg += " VALUE"
			case kindInt:
				arg += " N"
			case kindList:
				arg += " LIST"
			}
			fmt.Fprintf(&common, "  %-24s %s\n  %-24s [%s]\n", arg, o.usage, "", o.envName())
		}
		if own.Len() > 0 {
			fmt.Fprintf(w, "\nFlags:\n%s", own.String())
		}
		if common.Len() > 0 {
			fmt.Fprintf(w, "\nNode options (flag > environment > <datadir>/config.toml > default; 'gradientcoin help config'):\n%s", common.String())
		}
	}
	return fs
}

// boolString is a boolean flag stored as "true"/"false" text.
type boolString struct{ p *string }

func (b boolString) String() string {
	if b.p == nil {
		return ""
	}
	return *b.p
}

func (b boolString) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not a boolean: %q", s)
	}
	*b.p = strconv.FormatBool(v)
	return nil
}

func (b boolString) IsBoolFlag() bool { return true }

// parse parses args, allowing flags after positional arguments
// ("wallet send ADDR 1.5 --fee 10"), and returns the positional arguments.
// -h returns flag.ErrHelp after printing usage; any other problem is a
// usageError naming it.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help()
				return nil, flag.ErrHelp
			}
			return nil, usageErrorf("%s: %v (see '%s -h')", strings.TrimPrefix(fs.Name(), "gradientcoin "), err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if _, ok := fs.vals[f.Name]; ok {
			fs.set[f.Name] = true
		}
	})
	return pos, nil
}

// noArgs refuses positional arguments of a command that takes none.
func (fs *flagSet) noArgs(pos []string) error {
	if len(pos) == 0 {
		return nil
	}
	return unexpectedArg(strings.TrimPrefix(fs.Name(), "gradientcoin "), pos[0])
}

// unexpectedArg is the usage error for an extra word on the command line;
// a network name gets a hint (init testnet means init --network testnet).
func unexpectedArg(cmd, arg string) error {
	for _, n := range chain.NetworkNames() {
		if arg == n {
			return usageErrorf("%s: unexpected argument %q (did you mean --network %s?)", cmd, arg, n)
		}
	}
	return usageErrorf("%s: unexpected argument %q (see 'gradientcoin %s -h')", cmd, arg, cmd)
}

// existingDefaultDirs lists the networks (other than except) whose
// default data directory exists.
func existingDefaultDirs(except string) []string {
	var out []string
	for _, n := range chain.NetworkNames() {
		if n == except {
			continue
		}
		if st, err := os.Stat(defaultDataDir(n)); err == nil && st.IsDir() {
			out = append(out, n)
		}
	}
	return out
}

// resolve computes the Config of a parsed flag set from flags, the
// environment, the config file and defaults. It reads but never writes.
func (fs *flagSet) resolve(env *cliEnv) (*Config, error) {
	c := &Config{sources: map[string]string{}}
	byName := map[string]option{}
	for _, o := range options {
		byName[o.name] = o
	}
	// raw returns the flag or environment value of an option and where it
	// came from.
	raw := func(o option) (string, string, bool) {
		if fs.set[o.name] {
			return *fs.vals[o.name], "--" + o.name, true
		}
		if v, ok := lookupEnv(env, o.envName()); ok {
			return v, o.envName(), true
		}
		return "", "", false
	}
	apply := func(o option, v, src string) error {
		if o.kind == kindInt {
			if _, err := strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("%s: not an integer: %q", src, v)
			}
			v = strings.TrimSpace(v)
		}
		if o.kind == kindBool && src != "--"+o.name && !strings.HasPrefix(src, "config ") {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%s: not a boolean: %q", src, v)
			}
			v = strconv.FormatBool(b)
		}
		if err := o.set(c, v); err != nil {
			if strings.HasPrefix(src, "config ") {
				return fmt.Errorf("%s: %v", src, err)
			}
			return fmt.Errorf("%s %s: %v", src, v, err)
		}
		c.sources[o.name] = src
		return nil
	}

	// 1. network and datadir from flags or environment.
	netOpt, dirOpt := byName["network"], byName["datadir"]
	netVal, netSrc, netGiven := raw(netOpt)
	if netGiven {
		if err := apply(netOpt, netVal, netSrc); err != nil {
			return nil, err
		}
	}
	dirVal, dirSrc, dirGiven := raw(dirOpt)
	if dirGiven {
		if err := apply(dirOpt, dirVal, dirSrc); err != nil {
			return nil, err
		}
	}
	// Without --network or --datadir, when the default network's data
	// directory does not exist but exactly one other network's does, use
	// that one (a testnet user types 'gradientcoin status').
	if !netGiven && !dirGiven && fs.autoNetwork {
		if _, err := os.Stat(defaultDataDir(defaultNetwork)); errors.Is(err, os.ErrNotExist) {
			if others := existingDefaultDirs(defaultNetwork); len(others) == 1 {
				if err := apply(netOpt, others[0], "the existing data directory"); err != nil {
					return nil, err
				}
				netGiven = true
				fmt.Fprintf(env.stderr, "gradientcoin: using the %s data directory %s (no %s one; --network picks another)\n", others[0], defaultDataDir(others[0]), defaultNetwork)
			}
		}
	}
	// 2. the config file of the datadir (explicit, or the default of the
	// network named so far).
	dir := c.DataDir
	if !dirGiven {
		n := c.Network
		if n == "" {
			n = defaultNetwork
		}
		dir = defaultDataDir(n)
	}
	file, err := loadConfigFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	// Without a flag or variable, the network is the config file's, else
	// the one an explicit datadir was initialised for.
	if !netGiven {
		if fv, ok := file.values[netOpt.fileKey()]; ok {
			if err := apply(netOpt, fv.value, fmt.Sprintf("config %s: line %d: %s", file.path, fv.line, netOpt.fileKey())); err != nil {
				return nil, err
			}
			netGiven = true
		} else if dirGiven {
			if name, _, err := node.DataDirNetwork(c.DataDir); err == nil {
				if err := apply(netOpt, name, filepath.Join(c.DataDir, node.MetaFile)); err != nil {
					return nil, err
				}
				netGiven = true
			}
		}
	}

	// 3. every option: flag > env > file > default.
	for _, o := range options {
		if o.group&(fs.groups|groupBase) == 0 {
			continue
		}
		switch {
		case o.name == "network" && netGiven, o.name == "datadir" && dirGiven:
			continue
		}
		if v, src, ok := raw(o); ok {
			if err := apply(o, v, src); err != nil {
				return nil, err
			}
			continue
		}
		if fv, ok := file.values[o.fileKey()]; ok {
			v := fv.value
			if o.name == "data" && v != "" && !filepath.IsAbs(v) {
				v = filepath.Join(dir, v) // relative to the file's data directory, not the working directory
			}
			if err := apply(o, v, fmt.Sprintf("config %s: line %d: %s", file.path, fv.line, o.fileKey())); err != nil {
				return nil, err
			}
			continue
		}
		network := c.Network
		if network == "" {
			network = defaultNetwork
		}
		if o.name == "datadir" {
			c.DataDir = defaultDataDir(network)
			c.DataDirDefault = true
			c.sources[o.name] = "default"
			continue
		}
		if err := o.set(c, o.def(network)); err != nil {
			return nil, fmt.Errorf("--%s: %v", o.name, err)
		}
		c.sources[o.name] = "default"
	}
	if file.path != "" && c.DataDir != dir {
		// The file came from another datadir than the one resolved
		// (network named only in the file): a confusing setup, refuse it.
		return nil, fmt.Errorf("config %s names network %s, whose data directory is %s; pass --datadir", file.path, c.Network, c.DataDir)
	}
	if fs.groups&groupRPC != 0 {
		c.RPCExplicit = c.sources["rpc"] != "default"
		if err := checkLoopback(c.RPC, c.RPCAllowRemote); err != nil {
			return nil, fmt.Errorf("%s %s: %v", srcName(c.sources["rpc"], "--rpc"), c.RPC, err)
		}
	}
	return c, nil
}

func srcName(src, def string) string {
	if src == "" || src == "default" {
		return def
	}
	return src
}

// lookupEnv returns an environment variable that is set and not empty.
func lookupEnv(env *cliEnv, name string) (string, bool) {
	v := env.getenv(name)
	return v, v != ""
}

// configValue is one key of a config file as text, with its line.
type configValue struct {
	value string
	line  int
}

type configFile struct {
	path   string // empty when there is no file
	values map[string]configValue
}

// loadConfigFile reads a config file; a missing file is an empty config.
// Unknown keys, tables, and values of the wrong type are errors naming the
// file, the line and the key.
func loadConfigFile(path string) (configFile, error) {
	cf := configFile{values: map[string]configValue{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return cf, nil
	}
	if err != nil {
		return cf, fmt.Errorf("config %s: %v", path, unwrapPathErr(err))
	}
	cf.path = path
	var m map[string]any
	if _, err := toml.Decode(string(b), &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return cf, fmt.Errorf("config %s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return cf, fmt.Errorf("config %s: %v", path, err)
	}
	known := map[string]option{}
	for _, o := range options {
		if o.name == "datadir" {
			continue // the file lives in the datadir
		}
		known[o.fileKey()] = o
	}
	lines := strings.Split(string(b), "\n")
	for _, k := range sortedKeys(m) {
		line := keyLine(lines, k)
		o, ok := known[k]
		if !ok {
			return cf, fmt.Errorf("config %s: line %d: unknown key %q (known: %s)", path, line, k, strings.Join(sortedKeys(known), ", "))
		}
		v, err := tomlText(o, m[k])
		if err != nil {
			return cf, fmt.Errorf("config %s: line %d: %s: %v", path, line, k, err)
		}
		cf.values[k] = configValue{value: v, line: line}
	}
	return cf, nil
}

// tomlText converts a decoded TOML value to the option's text form,
// checking its type.
func tomlText(o option, v any) (string, error) {
	switch o.kind {
	case kindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return "", fmt.Errorf("must be a string, not %s", tomlType(v))
	case kindBool:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", fmt.Errorf("must be true or false, not %s", tomlType(v))
	case kindInt:
		if n, ok := v.(int64); ok {
			return strconv.FormatInt(n, 10), nil
		}
		return "", fmt.Errorf("must be an integer, not %s", tomlType(v))
	case kindList:
		switch x := v.(type) {
		case string:
			return x, nil
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return "", fmt.Errorf("element %d must be a string, not %s", i, tomlType(e))
				}
				if strings.Contains(s, ",") {
					return "", fmt.Errorf("element %d contains a comma", i)
				}
				parts[i] = s
			}
			return strings.Join(parts, ","), nil
		}
		return "", fmt.Errorf("must be an array of strings, not %s", tomlType(v))
	}
	return "", errors.New("unsupported")
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// keyLine finds the line (1-based) where a top-level key or table is
// defined; 0 if not found.
func keyLine(lines []string, key string) int {
	for i, l := range lines {
		t := strings.TrimSpace(l)
		for _, form := range []string{key, `"` + key + `"`, "'" + key + "'"} {
			if rest, ok := strings.CutPrefix(t, form); ok {
				rest = strings.TrimSpace(rest)
				if strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, ".") {
					return i + 1
				}
			}
			if rest, ok := strings.CutPrefix(t, "["); ok {
				rest = strings.TrimPrefix(rest, "[")
				rest = strings.TrimSpace(rest)
				if r2, ok := strings.CutPrefix(rest, form); ok && (strings.HasPrefix(strings.TrimSpace(r2), "]") || strings.HasPrefix(r2, ".")) {
					return i + 1
				}
			}
		}
	}
	return 0
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func splitHostPort(v string) (string, int, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, fmt.Errorf("not host:port: %v", err.(*net.AddrError).Err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	return host, n, nil
}

// checkLoopback refuses an API address that is not on the loopback
// interface unless allowed.
func checkLoopback(addr string, allowRemote bool) error {
	host, _, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("not a loopback address; the API controls the wallet, so it listens on 127.0.0.1 or ::1 unless --rpc-allow-remote is given")
	}
	return nil
}

// defaultDataDir is the per-OS default data directory of a network.
func defaultDataDir(network string) string {
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		base := os.Getenv("LOCALAPPDATA")
		if base == "" {
			base = filepath.Join(home, "AppData", "Local")
		}
		return filepath.Join(base, "GradientCoin", network)
	case "darwin", "ios":
		return filepath.Join(home, "Library", "Application Support", "GradientCoin", network)
	default:
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" || !filepath.IsAbs(base) {
			base = filepath.Join(home, ".local", "share")
		}
		return filepath.Join(base, "gradientcoin", network)
	}
}

// unwrapPathErr drops the operation and path of an *fs.PathError (the
// caller names the path itself).
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// configHelp documents the configuration sources and keys.
func configHelp() string {
	var b strings.Builder
	b.WriteString(`Configuration

Each setting comes from, in order of precedence:
  1. a flag               --log-level debug
  2. the environment      GRADIENTCOIN_LOG_LEVEL=debug
  3. <datadir>/config.toml  log_level = "debug"
  4. the default

The data directory defaults per OS and network:
  Linux    $XDG_DATA_HOME/gradientcoin/<network> (~/.local/share/gradientcoin/<network>)
  macOS    ~/Library/Application Support/GradientCoin/<network>
  Windows  %LOCALAPPDATA%\GradientCoin\<network>
Without --network, an explicit --datadir uses the network it was initialised for.

Settings (flag, environment variable, config.toml key):
`)
	for _, o := range options {
		key := o.fileKey()
		if o.name == "datadir" {
			key = "(not in the file)"
		}
		fmt.Fprintf(&b, "  --%-17s %-33s %s\n      %s\n", o.name, o.envName(), key, o.usage)
	}
	b.WriteString(`
Unknown keys in config.toml are errors. Lists (listen, bootstrap) are TOML
arrays of strings in the file and comma-separated elsewhere.
`)
	return b.String()
}
