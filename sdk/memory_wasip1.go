//go:build wasip1

package sdk

import "encoding/binary"

// Input returns the bytes the host passed to the current export.
func Input() []byte {
	n := extismInputLength()
	buf := make([]byte, n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], extismInputLoadU64(i))
	}
	for ; i < n; i++ {
		buf[i] = byte(extismInputLoadU8(i))
	}
	return buf
}

// Output sets the bytes the current export returns to the host.
func Output(data []byte) {
	off := store(data)
	extismOutputSet(off, uint64(len(data)))
}

// SetError sets the failure reason that the host reports when the export
// returns a non-zero code.
func SetError(msg string) {
	extismErrorSet(store([]byte(msg)))
}

// store copies data into a new kernel memory block and returns its offset.
func store(data []byte) uint64 {
	n := uint64(len(data))
	off := extismAlloc(n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		extismStoreU64(off+i, binary.LittleEndian.Uint64(data[i:]))
	}
	for ; i < n; i++ {
		extismStoreU8(off+i, uint32(data[i]))
	}
	return off
}

// load copies a kernel memory block out and frees it. Offset 0 is the
// kernel's "no block" and yields nil.
func load(off uint64) []byte {
	if off == 0 {
		return nil
	}
	n := extismLength(off)
	buf := make([]byte, n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], extismLoadU64(off+i))
	}
	for ; i < n; i++ {
		buf[i] = byte(extismLoadU8(off + i))
	}
	extismFree(off)
	return buf
}

// Config returns the plugin's configuration value for key from gateway.toml.
// Configuration never contains credentials: the host attaches those itself.
func Config(key string) (string, bool) {
	k := store([]byte(key))
	v := extismConfigGet(k)
	extismFree(k)
	if v == 0 {
		return "", false
	}
	return string(load(v)), true
}

// Var returns the value of an instance variable, or nil. Variables live in
// one plugin instance and are lost when the host replaces it.
func Var(name string) []byte {
	k := store([]byte(name))
	v := extismVarGet(k)
	extismFree(k)
	return load(v)
}

// SetVar sets an instance variable; a nil value deletes it.
func SetVar(name string, value []byte) {
	k := store([]byte(name))
	if value == nil {
		extismVarSet(k, 0)
	} else {
		extismVarSet(k, store(value))
	}
	extismFree(k)
}
