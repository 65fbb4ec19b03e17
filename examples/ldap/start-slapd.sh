#!/usr/bin/env bash
# Starts a local OpenLDAP slapd for examples/ldap: 127.0.0.1:3389, suffix
# dc=example,dc=test, mailward's schema, and examples/org's organization
# (servers, mailboxes, groups, journal rule, shared folder) imported with
# `mailward directory import`. Returns once slapd answers with the
# directory loaded. Its files are in examples/ldap/slapd-data/ (started
# afresh each time); examples/ldap/stop-slapd.sh stops it.
# Needs Debian's slapd: apt-get install -y --no-install-recommends slapd
# The port is the one mx1.toml's [organization.ldap] url names. MAILWARD
# may name a mailward binary (default: go run ./cmd/mailward).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=$(sed -n 's|^url = "ldap://127\.0\.0\.1:\([0-9]*\)".*|\1|p' "$here/mx1.toml")
[ -n "$port" ] || { echo "start-slapd: no url = \"ldap://127.0.0.1:PORT\" in $here/mx1.toml" >&2; exit 1; }
data=$here/slapd-data
suffix=dc=example,dc=test
schema=$repo/directory/ldapdir/schema/mailward.ldif
slapd=/usr/sbin/slapd
slapadd=/usr/sbin/slapadd

mw() {
	if [ -n "${MAILWARD:-}" ]; then "$MAILWARD" "$@"; else (cd "$repo" && go run ./cmd/mailward "$@"); fi
}

for p in "$slapd" "$slapadd"; do
	[ -x "$p" ] || { echo "start-slapd: $p missing: apt-get install -y --no-install-recommends slapd" >&2; exit 1; }
done
if [ -f "$data/slapd.pid" ] && kill -0 "$(cat "$data/slapd.pid")" 2>/dev/null; then
	echo "start-slapd: already running (pid $(cat "$data/slapd.pid")); examples/ldap/stop-slapd.sh stops it" >&2
	exit 1
fi
rm -rf "$data"
mkdir -p "$data/slapd.d" "$data/db"
chmod 700 "$data"
password=$(head -n1 "$here/ldap.secret")

# cn=config: the core, cosine and inetorgperson schemas, mailward's, one
# mdb database whose root DN is the account the examples bind as.
"$slapadd" -q -n0 -F "$data/slapd.d" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $data/slapd.pid

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file://$schema

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $data/db
olcSuffix: $suffix
olcRootDN: cn=admin,$suffix
olcRootPW: $password
olcDbIndex: objectClass eq
olcDbIndex: mail eq
olcDbIndex: proxyAddresses eq
LDIF
"$slapadd" -q -n1 -F "$data/slapd.d" <<LDIF
dn: $suffix
objectClass: dcObject
objectClass: organization
objectClass: mailwardOrganization
dc: example
o: Example
LDIF

# slapd detaches once it listens; its pid is in slapd-data/slapd.pid.
"$slapd" -h "ldap://127.0.0.1:$port/" -F "$data/slapd.d"
up=
for _ in $(seq 1 100); do # at most 10 s
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
	sleep 0.1
done
[ -n "$up" ] || { echo "start-slapd: slapd does not listen on 127.0.0.1:$port" >&2; exit 1; }
# The import binds and writes: slapd answers. The export reads it back.
mw directory import "$here/../org/organization.toml" --config "$here/mx1.toml"
mw directory export --config "$here/mx1.toml" >/dev/null
echo "slapd on ldap://127.0.0.1:$port/ (pid $(cat "$data/slapd.pid")), $suffix holds examples/org's organization"
