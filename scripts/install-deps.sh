#!/usr/bin/env bash
# Installs the Debian packages the test suite and the benchmarks use as
# real peers. Safe to run again: it installs only what is missing. Needs
# root when something is missing (it runs apt-get).
#
# Packages are installed with --no-install-recommends, so a *Recommends*
# a test relies on must be named here itself. Why each one is here (the
# table with the tests that use them is docs/testing.md):
#
#   postfix             a private Postfix peer (internal/peers) and its
#                       smtp-sink / smtp-source (in /usr/sbin)
#   swaks               an independent SMTP submission client (e2e)
#   libnet-ssleay-perl  swaks's STARTTLS; only a Recommends of swaks, and
#                       without it swaks --tls says "TLS not available:
#                       requires Net::SSLeay"
#   python3             Python's smtplib as a second independent client;
#                       also Postfix's Recommends (not needed by it here)
#   ca-certificates     Postfix's other Recommends; kept for the Go module
#                       downloads of a fresh machine
#   krb5-kdc            krb5kdc, kdb5_util: throwaway MIT realms
#                       (internal/testkdc) for the GSSAPI tests
#   krb5-admin-server   kadmin.local: principals and keytabs in those realms
#   krb5-user           kinit, klist
#   python3-gssapi      MIT's GSS-API from Python, an interoperability peer
#   rbldnsd             a real DNS block list (internal/testkit StartRbldnsd)
#                       for the connection filter's tests; its Depends
#                       (adduser, a sysusers provider) create the rbldns
#                       user it runs as; nothing is started by the package
#                       here (no systemd as init)
#   rspamd              the content filter's engine (internal/testkit
#                       StartRspamd, examples/filtering); its Depends
#                       (adduser) create the _rspamd user it runs as; its
#                       Recommends, redis-server, is left out: the tests'
#                       configuration needs no Redis. Nothing is started
#                       by the package here (no systemd as init)
#   slapd               OpenLDAP's slapd and slapadd: real LDAP directories
#                       (internal/testkit StartSlapd) for the organization
#                       directory's LDAP backend, each from a cn=config the
#                       test writes. Its Depends (adduser, perl, psmisc)
#                       suffice; its Recommends, ldap-utils, is left out
#                       (the tests talk LDAP from Go). Answered
#                       slapd/no_configuration, so the package sets up no
#                       system directory, and nothing is started by it
#                       here (no systemd as init)
#   systemd             systemd-analyze verify of examples/systemd/
#                       mailward.service (cmd/mailward
#                       TestSystemdUnitVerifies). Only the package, not
#                       systemd as init (that is systemd-sysv): it
#                       installs and verify runs in a container whose
#                       PID 1 is something else. Its Depends suffice; its
#                       Recommends (dbus, systemd-timesyncd) are left out
#   procps              /bin/kill, which the unit's ExecReload runs:
#                       systemd-analyze verify refuses a command that is
#                       not there (a minbase system has no procps)
#   chromium            Debian's browser, driven headless by chromedp in the
#                       web administration's browser tests (e2e
#                       TestWebAdminBrowser) and for docs/images/*.png
#                       (e2e TestWebAdminScreenshots, build tag
#                       screenshots). Its Depends suffice: libfontconfig1
#                       brings fontconfig-config, which depends on
#                       fonts-dejavu-core, so pages render their text
#                       (checked on the screenshots). Its Recommends are
#                       left out: chromium-sandbox (the setuid sandbox;
#                       the tests run as root with --no-sandbox), and
#                       chromium-common's fonts-liberation, upower, udev,
#                       libgl1-mesa-dri and a notification daemon (nothing
#                       headless uses them)
#   util-linux, mount,  unshare(1), mount(8) and mkfs.ext4: real full disks
#   e2fsprogs           (a small tmpfs or ext4 image) in a private mount
#                       namespace (internal/testkit RunInPrivateMounts)
#
# Recommends checked and left out: swaks's libio-socket-inet6-perl (IPv6;
# the tests use 127.0.0.1) and libnet-dns-perl (MX lookups; the tests name
# the server); krb5-user's krb5-config (a Depends of krb5-kdc anyway).
set -euo pipefail

pkgs=(postfix swaks libnet-ssleay-perl python3 ca-certificates krb5-kdc krb5-admin-server krb5-user python3-gssapi
	util-linux mount e2fsprogs rbldnsd rspamd slapd systemd procps chromium)
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
# slapd: no system directory (no slapd.d, no database, nothing to start).
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
