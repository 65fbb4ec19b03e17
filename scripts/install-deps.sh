#!/usr/bin/env bash
# Installs the Debian packages the test suite and the benchmarks use as
# real peers: Postfix (and its smtp-source/smtp-sink), swaks, Python's
# smtplib (python3). Safe to run again: it installs only what is missing.
set -euo pipefail

pkgs=(postfix swaks python3 ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix only as a library of tools and a peer we start ourselves: no
# system mail configuration, so nothing listens on port 25.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
