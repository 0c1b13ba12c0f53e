//go:build !unix

package node

import (
	"fmt"
	"os"
)

// dirLock on systems without flock: the LOCK file is opened and kept
// open; bbolt's own file lock on the store still refuses a second process.
type dirLock struct{ f *os.File }

func acquireLock(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: lock file: %w", err)
	}
	fmt.Fprintf(f, "pid %d\n", os.Getpid())
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// acquireSharedLock: a reader takes no lock here (bbolt's read-only open
// shares the store with other readers).
func acquireSharedLock(string) (*dirLock, error) { return &dirLock{}, nil }
