//go:build linux && (amd64 || arm64)

package plugin

import "syscall"

// reserveSupported reports whether guest memories are reserved outside the
// Go heap. It is limited to 64-bit Linux, where reserving every instance's
// maximum costs address space only.
const reserveSupported = true

// reserve maps n bytes of anonymous private memory with no access, so no
// page is backed or charged until commit opens it.
func reserve(n uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(n), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
}

// commit makes b, a page-aligned part of a reservation, readable and
// writable. Its pages read as zero until written.
func commit(b []byte) error {
	return syscall.Mprotect(b, syscall.PROT_READ|syscall.PROT_WRITE)
}

// unreserve unmaps a whole reservation.
func unreserve(b []byte) error {
	return syscall.Munmap(b)
}
