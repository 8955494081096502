# The README's two commands: `make demo` runs the main job, `make test` the
# whole test suite. Both fetch what they need themselves (Go modules through
# the Go toolchain, ONNX Runtime through `coop setup`).

GO ?= go
BIN := bin/coop

.PHONY: build setup test demo vet fmt-check

build:
	$(GO) build -o $(BIN) ./cmd/coop

setup: build
	./$(BIN) setup

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: setup vet fmt-check
	$(GO) test -race -timeout 25m ./...

demo: setup
	./$(BIN) demo
