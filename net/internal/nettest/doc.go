// Package nettest holds test helpers shared by the net packages:
// hand-made zstd bombs (RLEBomb) and other hostile inputs. It is internal
// and imported by tests only; it has no error kinds and never logs.
package nettest
