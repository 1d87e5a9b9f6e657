package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the file in the data directory whose exclusive flock marks the directory
// as in use by one running shop.
const lockFileName = "souk.lock"

// dataDirLock is a held lock on a data directory.
type dataDirLock struct{ f *os.File }

// lockDataDir takes an exclusive, non-blocking flock on dir's lock file and writes this
// process's pid into it, before anything else opens the directory: a second shop on the
// same files would open the first one's JetStream store (rebuilding its indexes) and, on
// another port, run beside it, republishing outbox windows. flock, unlike a pid file, is
// released by the kernel when the process dies, so a SIGKILL leaves no stale lock behind.
// The lock is held until Release (or the process's end).
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another souk (%s holds %s): stop it, or give this one its own -data-dir", dir, holder, path)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	// The pid is only for the message above and for operators (the flock is what guards),
	// so failing to write it is no reason to refuse to start.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dataDirLock{f: f}, nil
}

// Release drops the lock. The lock file stays: removing it would let a third process lock
// a fresh file while a second still waits on the old one's inode.
func (l *dataDirLock) Release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
