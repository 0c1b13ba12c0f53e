package rpc

import (
	"errors"
	"fmt"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Error kinds of this package (test with errors.Is).
var (
	// ErrConfig: a bad Config (no backend, an address that is not
	// host:port or cannot be listened on).
	ErrConfig = errors.New("rpc: bad config")
	// ErrRemoteAddr: a listen address that is not loopback without
	// Config.AllowRemote.
	ErrRemoteAddr = errors.New("rpc: non-loopback address")
	// ErrNotRunning: the client found no running node (no cookie file,
	// or nothing listening at the node's URL).
	ErrNotRunning = errors.New("rpc: no node is running")
	// ErrUnauthorized: the API refused the token (401).
	ErrUnauthorized = errors.New("rpc: unauthorized")
	// ErrBadRequest: the API refused the request's arguments (400).
	ErrBadRequest = errors.New("rpc: bad request")
	// ErrNotFound: no such block, height or endpoint (404).
	ErrNotFound = errors.New("rpc: not found")
	// ErrRejected: a payment the node refused (422), for example an
	// overdraft (which also matches chain.ErrInsufficientFunds).
	ErrRejected = errors.New("rpc: rejected")
	// ErrServer: any other error reply (5xx) or an unreadable reply.
	ErrServer = errors.New("rpc: server error")
)

// APIError is an error reply of the API.
type APIError struct {
	Status  int    // HTTP status code
	Kind    string // ErrorResponse.Kind
	Field   string // ErrorResponse.Field
	Message string // ErrorResponse.Error
}

func (e *APIError) Error() string { return e.Message }

// Is maps the reply to this package's kinds (and an overdraft to
// chain.ErrInsufficientFunds).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == 401
	case ErrBadRequest:
		return e.Status == 400 || e.Status == 415
	case ErrNotFound:
		return e.Status == 404
	case ErrRejected:
		return e.Status == 422
	case ErrServer:
		return e.Status >= 500
	case chain.ErrInsufficientFunds:
		return e.Kind == "insufficient_funds"
	}
	return false
}

func errorf(kind error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, a...))
}
