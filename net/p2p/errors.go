package p2p

import (
	"errors"
	"fmt"
)

// ErrorKind identifies a kind of network error; test with errors.Is.
type ErrorKind string

func (k ErrorKind) Error() string { return string(k) }

const (
	// ErrConfig: the Config is inconsistent (names the field).
	ErrConfig = ErrorKind("ErrConfig")
	// ErrIdentity: the identity key file could not be read, parsed or
	// written.
	ErrIdentity = ErrorKind("ErrIdentity")
	// ErrBanned: the peer is banned for misbehaviour.
	ErrBanned = ErrorKind("ErrBanned")
	// ErrRateLimited: the peer exceeded a rate limit (ours or theirs).
	ErrRateLimited = ErrorKind("ErrRateLimited")
	// ErrBadPeerData: a peer sent data that is malformed, oversized, does
	// not match what was requested, or is invalid by consensus.
	ErrBadPeerData = ErrorKind("ErrBadPeerData")
	// ErrNotFound: no peer had the requested object.
	ErrNotFound = ErrorKind("ErrNotFound")
	// ErrWrongNetwork: the peer is on another network (genesis).
	ErrWrongNetwork = ErrorKind("ErrWrongNetwork")
	// ErrNoPeers: nobody to ask.
	ErrNoPeers = ErrorKind("ErrNoPeers")
	// ErrClosed: the node is shut down.
	ErrClosed = ErrorKind("ErrClosed")
	// ErrQueueFull: a bounded queue was full and the work was dropped.
	ErrQueueFull = ErrorKind("ErrQueueFull")
	// ErrSnapshot: a weights snapshot could not be obtained or did not
	// match its header's state root.
	ErrSnapshot = ErrorKind("ErrSnapshot")
)

// Error is a network error: a kind, a description and an optional cause
// (reachable with errors.Is / errors.As).
type Error struct {
	Kind        ErrorKind
	Description string
	Cause       error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Description + ": " + e.Cause.Error()
	}
	return e.Description
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

func errorf(kind ErrorKind, format string, a ...any) error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, a...)}
}

func wrapf(kind ErrorKind, cause error, format string, a ...any) error {
	if cause != nil && errors.Is(cause, kind) {
		// Do not stack the same kind twice.
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), cause)
	}
	return &Error{Kind: kind, Description: fmt.Sprintf(format, a...), Cause: cause}
}
