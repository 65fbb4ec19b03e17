#!/usr/bin/env bash
# The whole test suite: installs the real peers it needs, then runs every
# Go test (unit, transcript, end-to-end against real Postfix, swaks, MIT
# Kerberos, ...), then each fuzz target briefly. Needs root for apt-get on
# a fresh machine, and for the Postfix peer. scripts/check-fresh.sh runs
# this on a freshly bootstrapped Debian; docs/testing.md explains both.
set -euo pipefail
cd "$(dirname "$0")/.."

# Here a missing component (a program, a module, root) fails its test
# instead of skipping it (internal/testkit): CI must never pass by
# skipping what it was meant to run.
export MAILWARD_REQUIRE_COMPONENTS=1

scripts/install-deps.sh
go vet ./...
go test -count=1 -timeout 20m ./...

# Fuzz targets, a few seconds each, on top of their seed corpora (which
# the run above already replayed).
fuzz() { go test -run='^$' -fuzz="^$2\$" -fuzztime="${FUZZTIME:-10s}" "$1"; }
fuzz ./address FuzzParsePath
fuzz ./smtp FuzzReadData
fuzz ./smtp FuzzSession
fuzz ./smtp FuzzBdatScan
fuzz ./dsn FuzzBuild
