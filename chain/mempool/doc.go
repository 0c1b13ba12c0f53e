// Package mempool holds valid unconfirmed transactions for relay and for
// block templates.
//
// Contract: a transaction enters only if it passes chain.CheckTxSanity,
// chain.CheckTxInputs against the tip's UTXO set plus the outputs of pool
// transactions (chains of unconfirmed transactions are allowed; an input
// spent by another pool transaction is a double spend: no replacement),
// chain.CheckTxSignatures, and the minimum fee rate. The pool is bounded in
// serialized bytes; when full, a new transaction evicts the lowest fee-rate
// transactions (with their descendants) only if they pay a lower rate than
// it does. HandleTipEvent (subscribe it to chain.BlockChain) removes mined
// and conflicting transactions and, after a reorg, re-validates the
// transactions of disconnected blocks and of the pool against the new tip.
// Template returns transactions for a block, highest fee rate first,
// parents before children, within a byte budget.
//
// Errors are chain.RuleErrors (errors.Is with the kinds): ErrAlreadyHave,
// ErrDoubleSpend, ErrInsufficientFee, ErrMempoolFull,
// ErrCoinbaseNotInMempool, and any consensus kind the chain checks return
// (ErrMissingTxOut, ErrImmatureSpend, ErrBadSignature, ...). The package
// does not log.
package mempool
