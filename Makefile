# Convenience targets; the README's two commands need only Go.

GO ?= go

.PHONY: demo plugins build test test-race fuzz bench wat ci

demo:                 ## build the plugins and run the embedded default on a synthetic workload
	$(GO) run ./cmd/wasm-gateway demo

plugins:              ## build the example plugins into build/plugins
	$(GO) run ./cmd/wasm-gateway plugins build

build:                ## build the wasm-gateway binary
	$(GO) build -o wasm-gateway ./cmd/wasm-gateway

test:                 ## run every test
	$(GO) test ./...

test-race:            ## run every test under the race detector
	$(GO) test -race ./...

fuzz:                 ## run each fuzzer for a short budget
	bash .ci/fuzz 10s

bench:                ## run the benchmark harness (all rows)
	$(GO) run ./cmd/wasm-gateway bench

wat:                  ## recompile the hand-written WAT test modules (needs wat2wasm from wabt)
	cd testplugins/wat && for f in *.wat; do wat2wasm $$f -o $${f%.wat}.wasm; done
	# wat2wasm 1.0.32 does not emit @custom sections: append the ABI version one.
	cd testplugins/wat && printf '\000\032\030wasm-gateway.abi_version1' >> customsection.wasm

ci:                   ## what CI runs
	bash .ci/run
