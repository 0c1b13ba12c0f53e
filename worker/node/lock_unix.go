//go:build unix

package node

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// dirLock is an exclusive advisory lock (flock) on the data directory's
// LOCK file, which names the holder: "pid N host H since T". flock locks
// belong to the open file, so a second Open in the same process is refused
// too, and the kernel drops the lock when the holder dies (kill -9
// included).
type dirLock struct {
	f      *os.File
	shared bool // a reader's lock: nothing written
}

func acquireLock(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
			holder = strings.TrimSpace(string(b))
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errorf(ErrLocked, "%s is held by %s", path, holder)
		}
		return nil, fmt.Errorf("node: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
		f.Sync()
	}
	return &dirLock{f: f}, nil
}

// acquireSharedLock takes a shared lock on the LOCK file for a node that
// only reads the directory (ReadOnly): it refuses a directory a running
// node holds, lets readers share it, and writes nothing (a missing LOCK
// file is not created).
func acquireSharedLock(path string) (*dirLock, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &dirLock{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
				holder = strings.TrimSpace(string(b))
			}
			return nil, errorf(ErrLocked, "%s is held by %s", path, holder)
		}
		return nil, fmt.Errorf("node: lock %s: %w", path, err)
	}
	return &dirLock{f: f, shared: true}, nil
}

func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	if !l.shared {
		l.f.Truncate(0)
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
