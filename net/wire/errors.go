package wire

import (
	"errors"
	"fmt"
)

// ErrorKind identifies a kind of wire error. Every error the package
// returns matches exactly one kind with errors.Is; errors from the chain
// decoders it calls are wrapped as well, so errors.Is(err,
// chain.ErrTruncated) also works where it applies.
type ErrorKind string

func (k ErrorKind) Error() string { return string(k) }

const (
	// ErrMalformed: the bytes are not a valid encoding of the message
	// (truncated, trailing bytes, a field out of range, a chain decoding
	// error, an unknown version).
	ErrMalformed = ErrorKind("ErrMalformed")
	// ErrTooLarge: a length, count or decompressed size above its cap.
	// Checked before anything of that size is allocated.
	ErrTooLarge = ErrorKind("ErrTooLarge")
	// ErrCompression: the zstd frame is malformed, uses a window above
	// MaxWindow, lacks a content size, or decodes to a size other than
	// the one it declares (a bomb or a corrupt frame).
	ErrCompression = ErrorKind("ErrCompression")
	// ErrMismatch: a payload does not match the commitment it was
	// requested by (hash, merkle root, size).
	ErrMismatch = ErrorKind("ErrMismatch")
)

// Error is a wire error: a kind and a description naming the offending
// value. Cause, when set, is the underlying error (for instance a
// chain.RuleError) and is reachable with errors.Is / errors.As.
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
	return &Error{Kind: kind, Description: fmt.Sprintf(format, a...), Cause: cause}
}

// KindOf returns the wire kind of err, or "" if err is not a wire error.
func KindOf(err error) ErrorKind {
	for _, k := range []ErrorKind{ErrMalformed, ErrTooLarge, ErrCompression, ErrMismatch} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ""
}
