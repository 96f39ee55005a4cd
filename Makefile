# infrabot — `make run` tries it out, `make test` runs the tests.
GO       ?= go
BIN      ?= bin/infrabot
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
FUZZTIME ?= 60s
PKGS      = ./...

.PHONY: all build run test test-openstack image bench fuzz lint clean

all: lint test

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/infrabot

# The console chat on the built-in demo config: bbolt under ./data and the
# OpenStack simulator as the cloud. Try `provision staging`.
run: build
	./$(BIN) shell --user $${INFRABOT_USER:-alice}

# Unit, integration and end-to-end tests, with the race detector. The SSH
# tests start a real sshd on 127.0.0.1: the script installs openssh-server
# when it is missing and we are root.
test:
	bash scripts/sshd/ensure.sh
	bash scripts/packaging/ensure.sh
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 10m $(PKGS)

# The same contract tests against a real OpenStack from Debian's packages,
# installed and started on 127.0.0.1 by the script (root; a few minutes).
test-openstack:
	bash scripts/openstack/test.sh

# The container image (needs a container engine and a registry for the
# base images; see docs/operations.md).
image:
	docker build -f packaging/Dockerfile --build-arg VERSION=$(VERSION) -t infrabot:$(VERSION) .

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s $(PKGS)

# Each fuzz target (package:target) for FUZZTIME.
FUZZ_TARGETS = ./actions:FuzzParse ./actions:FuzzAuditJSON ./config:FuzzParse ./actions/zuul:FuzzDecode ./simulator:FuzzCreateServer \
	./bot/slack:FuzzParseInteraction ./bot/slack:FuzzParseEvent ./bot/slack:FuzzCommandForm \
	./actions/deploy:FuzzParseCommand ./actions/deploy:FuzzQuote \
	./bot/discord:FuzzInteraction ./actions/health:FuzzParseSnooze \
	./actions/oncall:FuzzParseRotation ./actions/oncall:FuzzParseDuration ./actions/pagerduty:FuzzWebhook
# scripts/fuzz/run.sh runs them, and runs once more a target that Go
# 1.26's fuzzing deadline race ended with nothing found.
fuzz:
	@GO=$(GO) bash scripts/fuzz/run.sh $(FUZZTIME) $(FUZZ_TARGETS)

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin data
