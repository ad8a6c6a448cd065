// Package testplugins holds hostile and probing plugin modules for tests:
// Go plugins in subdirectories (built with GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared) and hand-written WAT modules in wat/, whose compiled
// .wasm files are committed beside them so tests need no WAT toolchain.
// Regenerate those with `make wat` (needs wat2wasm from wabt).
package testplugins
