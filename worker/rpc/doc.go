// Package rpc is the local HTTP API of a GradientCoin node, its status
// page, and a client for it (the command line's status and wallet
// commands).
//
// # Security
//
// The server listens on a loopback address unless Config.AllowRemote
// (CheckAddr). Every request but /login needs the token that New writes
// to the data directory's CookieFile (0600; a fresh random token per
// start; removed by Close): as "Authorization: Bearer <token>", or as the
// HttpOnly, SameSite=Strict cookie AuthCookie that GET /login?token=<token>
// sets before redirecting to the status page. Without it every path,
// the status page included, is 401 with a JSON error. The page loads
// nothing from elsewhere (Content-Security-Policy: 'self' only) and JSON
// bodies must be application/json, so other sites can neither read nor
// forge requests.
//
// # Endpoints
//
//	GET  /api/v1/status                node.Status
//	GET  /api/v1/loss                  []node.LossPoint (validation loss by height)
//	GET  /api/v1/blocks?limit=N        []node.BlockSummary, the tip first (N ≤ 1000, default 20)
//	GET  /api/v1/blocks/{height|hash}  Block (header fields, transactions, contribution hashes)
//	GET  /api/v1/wallet/balance        Balance (atoms and coins)
//	POST /api/v1/wallet/address        AddressResponse (a fresh address)
//	POST /api/v1/wallet/send           SendRequest → SendResponse
//	GET  /api/v1/wallet/history        []node.WalletTx
//	GET  /api/v1/weights?height=N      the model weights, little-endian float32 (headers name height, block, state root)
//	POST /api/v1/generate              GenerateRequest → GenerateResponse
//	GET  /metrics                      Prometheus text format (gradientcoin_*)
//	GET  /                             the status page (static/: HTML, CSS, JS)
//	GET  /login?token=T                sets the auth cookie, redirects to /
//
// Errors are JSON ErrorResponse bodies: 400 for a bad request (a body
// that is not one JSON object, an unknown field (keys match exactly, case
// included), a field of the wrong type or out of range, a payment amount
// or fee rate above its limit: the message and Field name it), 401
// without the token, 404 for an unknown block or path and for a height
// above the tip (blocks, weights, generate), 422 for a payment the node
// refuses (an overdraft has Kind "insufficient_funds"; amounts in coins),
// 5xx for node failures.
//
// Listen binds the API's address before the node opens (a command fails
// at once on a port in use); Config.Listener hands it to New; ListenAddr
// is the real bind address (URL the loopback URL a local client dials).
//
// # Metrics
//
// Counters end in _total, units are in the names (_seconds, _bytes,
// _atoms); gradientcoin_build_info{version,commit,go,cuda} is 1. The
// exposition is written by this package (text format 0.0.4).
//
// # Errors
//
// The client returns *APIError for error replies; errors.Is matches it to
// ErrUnauthorized, ErrBadRequest, ErrNotFound, ErrRejected, ErrServer and,
// for an overdraft, chain.ErrInsufficientFunds. ErrNotRunning: no cookie
// file or nothing listening. ErrConfig, ErrRemoteAddr: New's arguments.
//
// The package logs only through the zerolog.Logger it is given.
package rpc
