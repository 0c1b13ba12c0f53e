package node

import (
	"errors"
	"fmt"
)

// Error kinds of this package. Every error a Node returns either wraps one
// of them (test with errors.Is) or is an error of the chain, wallet,
// mempool, p2p or data packages passed through with context.
var (
	// ErrNoDataDir: the data directory does not exist.
	ErrNoDataDir = errors.New("node: data directory does not exist")
	// ErrNotInitialized: the data directory exists but holds no node
	// (run init first), or its initialisation did not finish.
	ErrNotInitialized = errors.New("node: data directory is not initialised")
	// ErrAlreadyInitialized: Init over a data directory that already
	// holds a node.
	ErrAlreadyInitialized = errors.New("node: data directory is already initialised")
	// ErrIncomplete: the data directory holds part of a node (an init cut
	// short, by a crash or an older version): remove it and run init
	// again. It also matches ErrNotInitialized (Open) or
	// ErrAlreadyInitialized (Init).
	ErrIncomplete = errors.New("node: incomplete data directory")
	// ErrWrongNetwork: the data directory belongs to another network (or
	// another genesis of the same name).
	ErrWrongNetwork = errors.New("node: data directory belongs to another network")
	// ErrLocked: another process (or another Node in this process) has
	// the data directory open.
	ErrLocked = errors.New("node: data directory is in use")
	// ErrConfig: a Config field out of range.
	ErrConfig = errors.New("node: bad config")
	// ErrCorruptDataDir: the data directory's metadata does not decode.
	ErrCorruptDataDir = errors.New("node: data directory metadata is corrupt")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("node: closed")
	// ErrBadRequest: an API argument that does not fit (an address for
	// another network, a height above the tip, ...).
	ErrBadRequest = errors.New("node: bad request")
)

func errorf(kind error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, a...))
}

// incompleteError is an ErrIncomplete that also matches also.
type incompleteError struct {
	msg  string
	also error
}

func (e *incompleteError) Error() string   { return e.msg }
func (e *incompleteError) Unwrap() []error { return []error{ErrIncomplete, e.also} }
