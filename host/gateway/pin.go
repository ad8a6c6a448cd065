package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/host/config"
)

// checkPin rejects wasm, read from file, when plugin pc pins another
// SHA-256 digest. A plugin without a pin accepts any file.
func checkPin(pc config.Plugin, file string, wasm []byte) error {
	if pc.SHA256 == "" {
		return nil
	}
	sum := sha256.Sum256(wasm)
	got := hex.EncodeToString(sum[:])
	if !strings.EqualFold(got, pc.SHA256) {
		return fmt.Errorf("load plugin %q: %s has sha256 %s but [[plugin]] sha256 pins %s: install the pinned build or update the pin", pc.Name, file, got, strings.ToLower(pc.SHA256))
	}
	return nil
}
