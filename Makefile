# tuninetd: build, test, cross-compile, demo. Pure Go, CGO off everywhere.

GO      ?= go
# The version lives in one place, cmd/tuninetd/main.go; `make VERSION=x`
# overrides it for a release build.
VERSION ?= $(shell sed -n 's/^var version = "\(.*\)"$$/\1/p' cmd/tuninetd/main.go)
LDFLAGS := -s -w -X main.version=$(VERSION)
# -buildvcs=false: the version comes from VERSION, and VCS stamping fails
# when root (sudo make demo) builds a checkout another user owns.
GOBUILD := $(GO) build -buildvcs=false -trimpath -ldflags "$(LDFLAGS)"
BUILD   := CGO_ENABLED=0 $(GOBUILD)

# Daemons shipped by `make cross` (cmd/bpfc is a developer tool).
CROSS_CMDS := $(notdir $(wildcard cmd/tuninetd cmd/tuntapd))
# os/arch[/variant] targets of `make cross`.
CROSS_TARGETS := amd64 386 arm64 arm/5 arm/7 mips mipsle

# Pure packages whose tests must also pass big-endian under qemu-user.
MIPS_PKGS := ./bpfc/... ./sensor ./sensor/savefile ./sensor/dnsq ./core ./cmd/internal/getopt ./cmd/internal/logsink ./cmd/internal/config
MIPS_CMD_TESTS := ^(TestParseCommandLine|TestParseCommandLineExits|TestUsageText|TestOptionTable|TestReportLines|TestWrongFilter|TestCheckCommand)$$

.PHONY: all build test vet unit test-mips cross bench demo clean

all: build

# bin/tuninetd plus every other command in cmd/ (tuntapd, bpfc).
build:
	@mkdir -p bin
	$(BUILD) -o bin/ ./cmd/...

# The whole suite, as CI runs it (.ci/run): formatting, vet, every test
# (integration tests need root; with TUNINETD_REQUIRE_NETNS=1 they fail
# instead of skipping), then the pure packages on big-endian mips.
test: vet unit test-mips

vet:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 30m ./...

test-mips:
	@if ! command -v qemu-mips-static >/dev/null 2>&1; then \
		if [ "$${CI:-}" = true ]; then \
			echo "qemu-mips-static is missing (CI=true): apt-get install qemu-user-static" >&2; exit 1; \
		fi; \
		echo "NOTE: qemu-mips-static not installed: big-endian mips tests NOT run" >&2; exit 0; \
	fi; \
	set -e; \
	CGO_ENABLED=0 GOARCH=mips GOMIPS=softfloat $(GO) test -count=1 -timeout 20m -exec qemu-mips-static $(MIPS_PKGS); \
	CGO_ENABLED=0 GOARCH=mips GOMIPS=softfloat $(GO) test -count=1 -timeout 5m -exec qemu-mips-static -run '$(MIPS_CMD_TESTS)' ./cmd/tuninetd

# Stripped static binaries for routers, with their sizes.
cross:
	@mkdir -p dist
	@set -e; for t in $(CROSS_TARGETS); do \
		arch=$${t%/*}; variant=$${t#*/}; suffix=$$arch; env="GOOS=linux GOARCH=$$arch"; \
		case $$arch in \
			arm) env="$$env GOARM=$$variant"; suffix=armv$$variant ;; \
			mips|mipsle) env="$$env GOMIPS=softfloat" ;; \
		esac; \
		for c in $(CROSS_CMDS); do \
			out=dist/$$c-linux-$$suffix; \
			env $$env CGO_ENABLED=0 $(GOBUILD) -o $$out ./cmd/$$c; \
			printf '%-32s %9d bytes\n' $$out $$(stat -c %s $$out); \
		done; \
	done

# Benchmarks against tcpdump on veth traffic in a throwaway namespace
# (root). They print figures and assert nothing.
bench:
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 900s -v ./sensor/afpacket/
	TUNINETD_NFLOG_BENCH=1000000 CGO_ENABLED=0 $(GO) test -count=1 -run '^TestNFLOGBenchmark$$' -timeout 900s -v ./sensor/nflog/

# A throwaway namespace with a tun device: traffic starts the example
# script, silence stops it (root). Builds first when Go is on PATH (sudo
# often resets PATH; then run `make` as yourself first).
demo:
	@if command -v $(GO) >/dev/null 2>&1; then $(MAKE) --no-print-directory build; \
	elif [ ! -x bin/tuninetd ]; then echo "no $(GO) on PATH and no bin/tuninetd: run 'make' first" >&2; exit 1; fi
	bash examples/demo.sh

clean:
	rm -rf bin dist
