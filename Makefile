# Kizuna build and test entry points. `make test` is the project's test command.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
MAILPIT_VERSION ?= v1.33.1

.PHONY: test lint unit csaf build bench fuzz tools

build:
	$(GO) build -o bin/kizuna ./cmd/kizuna

# test: formatting, vet, staticcheck, every Go test (unit, end-to-end, real data when ../shared/data
# exists) and the BSI reference checker (csaf_checker) against a running CSAF provider.
test: lint csaf unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# tools: programs the tests start (not Go module dependencies): mailpit, the real SMTP server the
# e-mail delivery tests send to (internal/response/alert/deliver, found in $(go env GOPATH)/bin).
tools:
	$(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

unit: tools
	$(GO) test -count=1 -timeout 20m ./...

csaf:
	bash .ci/csaf-check.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
