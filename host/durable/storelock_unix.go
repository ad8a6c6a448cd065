//go:build unix

package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStore takes an exclusive lock on the store directory, so a second
// process started on the same store fails at once instead of corrupting
// it. The lock ends with the process or when the file is closed.
func lockStore(dir string) (*os.File, error) {
	path := filepath.Join(dir, "wasm-gateway.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store_dir %q is not usable: %w; point it at a writable directory", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("store_dir %q is in use by another process: give each embedded server its own store_dir, or join it with urls", dir)
	}
	return f, nil
}
