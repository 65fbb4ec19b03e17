#!/usr/bin/env bash
# The whole test suite: installs the real peers it needs, then runs every
# Go test (unit, transcript, end-to-end against real Postfix and swaks),
# then each fuzz target briefly. Needs root for apt-get on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
go vet ./...
go test -count=1 -timeout 20m ./...

# Fuzz targets, a few seconds each, on top of their seed corpora (which
# the run above already replayed).
fuzz() { go test -run='^$' -fuzz="^$2\$" -fuzztime="${FUZZTIME:-10s}" "$1"; }
fuzz ./address FuzzParsePath
fuzz ./smtp FuzzReadData
fuzz ./smtp FuzzSession
fuzz ./dsn FuzzBuild
