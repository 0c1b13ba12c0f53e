// Package mempool holds valid unconfirmed transactions for relay and for
// block templates.
//
// Contract: a transaction enters only if it passes chain.CheckTxSanity,
// chain.CheckTxInputs against the tip's UTXO set plus the outputs of pool
// transactions (chains of unconfirmed transactions are allowed; an input
// spent by another pool transaction is a double spend: no replacement),
// the minimum fee rate, the room check, and chain.CheckTxSignatures — in
// that order, so the signatures (the costly part) are verified only for a
// transaction that would enter. The pool is bounded in serialized bytes;
// when full, a new transaction evicts the lowest fee-rate transactions
// (with their descendants) only if they pay a lower rate than it does.
// Rejections are remembered until the tip moves, in a bounded cache
// (MaxRejects): by txid for reasons no signature changes, by full hash
// for a bad signature; a remembered transaction is refused at once. HandleTipEvent (subscribe it to chain.BlockChain) removes mined
// and conflicting transactions and, after a reorg, re-validates the
// transactions of disconnected blocks and of the pool against the new tip.
// Template returns transactions for a block, highest fee rate first,
// parents before children, within a byte budget.
//
// Errors are chain.RuleErrors (errors.Is with the kinds): ErrAlreadyHave,
// ErrRecentlyRejected,
// ErrDoubleSpend, ErrInsufficientFee, ErrMempoolFull,
// ErrCoinbaseNotInMempool, and any consensus kind the chain checks return
// (ErrMissingTxOut, ErrImmatureSpend, ErrBadSignature, ...). The package
// does not log.
package mempool
