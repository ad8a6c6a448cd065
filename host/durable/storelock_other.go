//go:build !unix

package durable

import (
	"os"
	"path/filepath"
)

// lockStore opens the lock file without locking: only Unix systems lock
// the store against a second process.
func lockStore(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "wasm-gateway.lock"), os.O_CREATE|os.O_RDWR, 0o644)
}
