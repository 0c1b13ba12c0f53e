package chain

import "fmt"

// ErrorKind identifies a kind of consensus or decoding error. Use errors.Is
// with the constants below; a RuleError wrapping a kind matches it.
type ErrorKind string

func (k ErrorKind) Error() string { return string(k) }

// Decoding (wire) errors.
const (
	ErrTruncated    = ErrorKind("ErrTruncated")    // input ended before the value did
	ErrTrailingData = ErrorKind("ErrTrailingData") // bytes left after a complete value
	ErrTooLarge     = ErrorKind("ErrTooLarge")     // a length or count above its cap
	ErrNonCanonical = ErrorKind("ErrNonCanonical") // a value with more than one encoding in a non-canonical form
)

// Header and proof-of-work errors.
const (
	ErrHighHash             = ErrorKind("ErrHighHash")             // block hash above its target
	ErrBadTarget            = ErrorKind("ErrBadTarget")            // compact bits zero, negative, overflowing or above the PoW limit
	ErrUnexpectedDifficulty = ErrorKind("ErrUnexpectedDifficulty") // bits differ from the required next target
	ErrTimeTooNew           = ErrorKind("ErrTimeTooNew")           // timestamp beyond local time + max drift (may become valid later)
	ErrTimeTooOld           = ErrorKind("ErrTimeTooOld")           // timestamp not after the median time past
	ErrBadHeight            = ErrorKind("ErrBadHeight")            // height != parent height + 1
	ErrBadVersion           = ErrorKind("ErrBadVersion")           // unknown header or tx version
	ErrMissingParent        = ErrorKind("ErrMissingParent")        // parent unknown (orphan)
	ErrBadGenesis           = ErrorKind("ErrBadGenesis")           // block claims to be genesis but is not
	ErrKnownInvalid         = ErrorKind("ErrKnownInvalid")         // block or an ancestor already failed validation
	ErrDuplicateBlock       = ErrorKind("ErrDuplicateBlock")       // block already known
	ErrBadCheckpoint        = ErrorKind("ErrBadCheckpoint")        // fork below a checkpoint
	ErrBadStateRoot         = ErrorKind("ErrBadStateRoot")         // weights after the block differ from the header's state root
	ErrBadGradientRoot      = ErrorKind("ErrBadGradientRoot")      // contributions do not hash to the header's gradient root
	ErrBadContribution      = ErrorKind("ErrBadContribution")      // a contribution is malformed or invalid
	ErrGradientTooLarge     = ErrorKind("ErrGradientTooLarge")     // contributions above MaxGradientSize or MaxContributions
	ErrBlockTooLarge        = ErrorKind("ErrBlockTooLarge")        // serialized block above MaxBlockSize
	ErrBadMerkleRoot        = ErrorKind("ErrBadMerkleRoot")        // tx root mismatch
	ErrDuplicateTx          = ErrorKind("ErrDuplicateTx")          // two txs with the same txid in a block
	ErrNoTransactions       = ErrorKind("ErrNoTransactions")       // block without a coinbase
	ErrFirstTxNotCoinbase   = ErrorKind("ErrFirstTxNotCoinbase")   // first tx is not a coinbase
	ErrMultipleCoinbases    = ErrorKind("ErrMultipleCoinbases")    // a coinbase after the first tx
	ErrBadCoinbaseHeight    = ErrorKind("ErrBadCoinbaseHeight")    // coinbase payload does not start with the block height
	ErrBadCoinbaseValue     = ErrorKind("ErrBadCoinbaseValue")     // coinbase pays more than subsidy + fees
	ErrNoTxInputs           = ErrorKind("ErrNoTxInputs")           // non-coinbase tx without inputs
	ErrBadTxOutputs         = ErrorKind("ErrBadTxOutputs")         // wrong number of outputs
	ErrBadTxOutValue        = ErrorKind("ErrBadTxOutValue")        // output value out of range
	ErrDuplicateTxInputs    = ErrorKind("ErrDuplicateTxInputs")    // a tx spends the same outpoint twice
	ErrBadTxInput           = ErrorKind("ErrBadTxInput")           // null prevout in a non-coinbase tx, or bad coinbase input
	ErrBadPayload           = ErrorKind("ErrBadPayload")           // tx payload not allowed / too long
	ErrMissingTxOut         = ErrorKind("ErrMissingTxOut")         // input spends an unknown or spent output
	ErrImmatureSpend        = ErrorKind("ErrImmatureSpend")        // coinbase output spent before maturity
	ErrSpendTooHigh         = ErrorKind("ErrSpendTooHigh")         // outputs exceed inputs
	ErrDoubleSpend          = ErrorKind("ErrDoubleSpend")          // outpoint spent twice in a block or the mempool
	ErrBadSignature         = ErrorKind("ErrBadSignature")         // ed25519 signature invalid
	ErrWrongKey             = ErrorKind("ErrWrongKey")             // input key does not hash to the spent output's address
	ErrOverwriteTx          = ErrorKind("ErrOverwriteTx")          // tx would overwrite unspent outputs of an earlier tx with the same txid
	ErrBadAddress           = ErrorKind("ErrBadAddress")           // address string malformed or for another network
	ErrBadParams            = ErrorKind("ErrBadParams")            // network parameters inconsistent
	ErrStore                = ErrorKind("ErrStore")                // the store failed (I/O); not a consensus failure
	ErrInsufficientFee      = ErrorKind("ErrInsufficientFee")      // mempool: fee rate below minimum or below replaced tx
	ErrMempoolFull          = ErrorKind("ErrMempoolFull")          // mempool: full and fee rate too low to evict
	ErrAlreadyHave          = ErrorKind("ErrAlreadyHave")          // mempool: tx already in pool
	ErrRecentlyRejected     = ErrorKind("ErrRecentlyRejected")     // mempool: the same tx (or txid, for a reason no signature changes) was rejected since the tip last moved
	ErrInsufficientFunds    = ErrorKind("ErrInsufficientFunds")    // wallet: not enough spendable coins
	ErrCoinbaseNotInMempool = ErrorKind("ErrCoinbaseNotInMempool") // mempool: coinbase txs are not relayed
)

// Snapshot and header-index errors.
const (
	ErrBadSnapshot      = ErrorKind("ErrBadSnapshot")      // snapshot weights of the wrong length, not finite, or not hashing to the block's state root: provably invalid
	ErrSnapshotUnusable = ErrorKind("ErrSnapshotUnusable") // the chain cannot take this snapshot (header not in the index, main chain already at or past its height, branch without more work than the tip): not the sender's fault
	ErrIndexFull        = ErrorKind("ErrIndexFull")        // the index holds MaxHeaderNodes header-only entries: not a consensus failure
	ErrLowWork          = ErrorKind("ErrLowWork")          // a block or header on a branch far below the tip's work (Params.LowWorkMargin), not asked for: not stored (anti-DoS), not a consensus failure
)

// RuleError is a consensus or decoding error: a kind plus a description
// that names the offending value. errors.Is(err, ErrHighHash) works on it.
type RuleError struct {
	Err         ErrorKind
	Description string
}

func (e RuleError) Error() string { return e.Description }

// Unwrap returns the error kind.
func (e RuleError) Unwrap() error { return e.Err }

func ruleError(kind ErrorKind, format string, a ...any) RuleError {
	return RuleError{Err: kind, Description: fmt.Sprintf(format, a...)}
}
