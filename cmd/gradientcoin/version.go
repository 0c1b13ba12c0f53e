package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/gradientcoin/gradientcoin/gpu"
)

// version and commit can be set at link time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123" ./cmd/gradientcoin
//
// Otherwise they come from the module and VCS information the go command
// stamps into the binary.
var (
	version = ""
	commit  = ""
)

// BuildInfo describes this binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
	CUDA      bool   `json:"cuda"` // built with the gccuda tag
}

func buildInfo() BuildInfo {
	bi := BuildInfo{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		CUDA:      gpu.Available(),
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if bi.Commit == "" {
					bi.Commit = s.Value
				}
			case "vcs.modified":
				bi.Modified = s.Value == "true"
			}
		}
	}
	if bi.Version == "" {
		bi.Version = "devel"
	}
	if bi.Commit == "" {
		bi.Commit = "unknown"
	}
	return bi
}

func (b BuildInfo) shortCommit() string {
	c := b.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if b.Modified {
		c += "-dirty"
	}
	return c
}

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "version", "version [--json]\n\nPrints the version, commit, Go version, platform and whether the CUDA (gccuda) build tag is on.", 0)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	bi := buildInfo()
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(bi)
	}
	cuda := "off (CPU only; build with -tags gccuda for CUDA)"
	if bi.CUDA {
		cuda = "on (gccuda)"
	}
	fmt.Fprintf(env.stdout, "gradientcoin %s\ncommit:   %s\ngo:       %s\nplatform: %s\ncuda:     %s\n",
		bi.Version, bi.shortCommit(), strings.TrimPrefix(bi.GoVersion, "go"), bi.Platform, cuda)
	return nil
}
