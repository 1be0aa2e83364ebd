# ferry's front door for developers and CI. GNU make.
#
#   make run     build, install FUSE and friends if missing, mount $(REMOTE) at $(MOUNTPOINT)
#   make test    gofmt check, go vet, race-enabled tests (end-to-end tests included)
#   make bench   plain disk vs ferry vs rclone; writes docs/BENCH.md
#                (pass more flags with BENCH_FLAGS='-only plain,rclone -size 256MiB')

SHELL := /bin/bash
.DEFAULT_GOAL := build

GO         ?= go
BIN        := $(CURDIR)/bin
FERRY      := $(BIN)/ferry
REMOTE     ?= $(HOME)/Ferry-remote
MOUNTPOINT ?= $(HOME)/Ferry

# Pinned third-party tools that tests need (MinIO) are installed here, never
# system-wide, and end-to-end tests look for them through FERRY_TOOLS_BIN.
TOOLS_BIN  := $(CURDIR)/.tools/bin
export FERRY_TOOLS_BIN := $(TOOLS_BIN)

# Root runs apt-get itself; anyone else goes through sudo when there is one.
# The lock timeout rides out a concurrent apt run (unattended-upgrades at boot).
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300

.PHONY: deps tools build run test bench clean

# Installs only what is missing, and refreshes the package lists only when
# something has to be installed, so a ready machine pays nothing.
deps:
	@missing=""; \
	command -v fusermount3 >/dev/null 2>&1 || missing="$$missing fuse3"; \
	dpkg -s libfuse-dev >/dev/null 2>&1    || missing="$$missing libfuse-dev"; \
	command -v rclone >/dev/null 2>&1      || missing="$$missing rclone"; \
	command -v fio >/dev/null 2>&1         || missing="$$missing fio"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ] && [ -z "$(SUDO)" ]; then \
			echo "deps: missing$$missing; install them as root (apt-get install$$missing)" >&2; exit 1; \
		fi; \
		echo "deps: installing$$missing"; \
		$(APT_GET) update -q && \
		$(APT_GET) install -y -q $$missing; \
	fi

# Pinned builds go into $(TOOLS_BIN) as extra prerequisites of this target.
# Each is a file target, so a rerun with the binary in place costs nothing.
tools: deps $(TOOLS_BIN)/minio
	@mkdir -p $(TOOLS_BIN)

# MinIO, the S3 server the remote/s3 tests run against. `go install pkg@version`
# builds it in module mode from its own go.mod, leaving ferry's go.mod alone.
# Bump by picking a newer pseudo-version of github.com/minio/minio.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
$(TOOLS_BIN)/minio:
	@mkdir -p $(TOOLS_BIN)
	@echo "tools: building minio $(MINIO_VERSION) (a few minutes, once)"
	GOBIN=$(TOOLS_BIN) GOFLAGS=-buildvcs=false $(GO) install github.com/minio/minio@$(MINIO_VERSION)

build:
	$(GO) build -o $(FERRY) ./cmd/ferry

run: deps build
	mkdir -p "$(REMOTE)" "$(MOUNTPOINT)"
	$(FERRY) mount "$(REMOTE)" "$(MOUNTPOINT)"

# go test runs last so that its summary is the last thing printed.
test: export FERRY_BIN := $(FERRY)
test: deps tools build
	@unformatted="$$(find . -type d \( -name '.?*' -o -name testdata \) -prune -o -type f -name '*.go' -print | xargs -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -l lists files that need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

bench: deps tools build
	$(GO) run ./cmd/ferry-bench -ferry $(FERRY) -out docs/BENCH.md $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) $(CURDIR)/.tools $(CURDIR)/.bench
