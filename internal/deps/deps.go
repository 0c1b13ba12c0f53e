//go:build tools

// Package deps pins the project's module dependencies while the packages
// that use them are being written, so that `go mod tidy` keeps them.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-kad-dht"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/rs/zerolog"
	_ "go.etcd.io/bbolt"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "gorgonia.org/cu"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
