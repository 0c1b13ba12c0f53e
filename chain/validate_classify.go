package chain

import "errors"

// Verdict is what a gossip validator should do with a block after
// ProcessBlock: relay it, drop it quietly, or drop it and penalise the
// peer that sent it.
type Verdict int

const (
	// VerdictAccept: valid (main chain or side chain): relay.
	VerdictAccept Verdict = iota
	// VerdictIgnore: not provably invalid (unknown parent, duplicate,
	// timestamp too far ahead for now, local failure): drop, no penalty.
	VerdictIgnore
	// VerdictReject: provably invalid: drop and penalise the sender.
	VerdictReject
)

func (v Verdict) String() string {
	switch v {
	case VerdictAccept:
		return "accept"
	case VerdictIgnore:
		return "ignore"
	case VerdictReject:
		return "reject"
	}
	return "verdict(?)"
}

// ClassifyBlock maps ProcessBlock's result to a gossip verdict: nil error →
// accept (ignore for an orphan); ErrDuplicateBlock, ErrMissingParent,
// ErrTimeTooNew (may become valid), ErrStore, ErrNotFound, ErrClosed,
// ErrSnapshotUnusable, ErrIndexFull, ErrLowWork and errors that are not rule errors →
// ignore; every other rule error
// (ErrKnownInvalid included) → reject.
func ClassifyBlock(res ProcessResult, err error) Verdict {
	if err == nil {
		if res.Orphan {
			return VerdictIgnore
		}
		return VerdictAccept
	}
	var kind ErrorKind
	var re RuleError
	switch {
	case errors.As(err, &re):
		kind = re.Err
	case errors.As(err, &kind):
	default:
		return VerdictIgnore
	}
	switch kind {
	case ErrDuplicateBlock, ErrMissingParent, ErrTimeTooNew, ErrStore, ErrNotFound, ErrClosed,
		ErrSnapshotUnusable, ErrIndexFull, ErrLowWork:
		return VerdictIgnore
	}
	return VerdictReject
}
