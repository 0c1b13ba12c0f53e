package kernels

import (
	"embed"
	"errors"
	"fmt"
)

//go:embed *.fatbin
var images embed.FS

// ErrUnknownKernel is returned for a kernel module name with no embedded
// fatbin.
var ErrUnknownKernel = errors.New("kernels: no such kernel module")

// Module names (the .cu/.fatbin base names) and their entry points.
const (
	// SHA256d is the SHA-256d nonce-search module (sha256d.cu).
	SHA256d = "sha256d"
	// SHA256dSearch is its kernel: one parameter, struct Sha256dParams by
	// value (layout in gpu/precompute.go).
	SHA256dSearch = "sha256d_search"
	// SHA256dSearchMAD is the same search with its additions done as
	// multiply-adds (the FMA pipe instead of the integer pipe); same
	// parameter block.
	SHA256dSearchMAD = "sha256d_search_mad"
)

// Fatbin returns the embedded fatbin image of the named module (its .cu base
// name, e.g. SHA256d). The slice is shared: do not modify it.
func Fatbin(name string) ([]byte, error) {
	b, err := images.ReadFile(name + ".fatbin")
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKernel, name)
	}
	return b, nil
}

// Names lists the embedded modules in lexical order.
func Names() []string {
	ents, _ := images.ReadDir(".")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		names = append(names, n[:len(n)-len(".fatbin")])
	}
	return names
}
