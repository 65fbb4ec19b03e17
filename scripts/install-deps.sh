#!/usr/bin/env bash
# Installs the Debian packages the test suite and the benchmarks use as
# real peers: Postfix (and its smtp-source/smtp-sink), swaks, Python's
# smtplib (python3), MIT Kerberos (krb5kdc, kdb5_util, kadmin.local, kinit:
# throwaway realms for the GSSAPI tests) and python3-gssapi (MIT's GSS-API
# as an interoperability peer). Safe to run again: it installs only what is
# missing.
set -euo pipefail

pkgs=(postfix swaks python3 ca-certificates krb5-kdc krb5-admin-server krb5-user python3-gssapi)
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
# Kerberos likewise: the tests run their own realms from scratch
# directories (KRB5_CONFIG, KRB5_KDC_PROFILE); answer krb5-config's
# questions so that nothing prompts and no system realm is set up.
debconf-set-selections <<'EOF'
krb5-config krb5-config/default_realm string
krb5-config krb5-config/kerberos_servers string
krb5-config krb5-config/admin_server string
krb5-config krb5-config/add_servers boolean false
krb5-config krb5-config/read_conf boolean true
EOF
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
