package ldapdir

import _ "embed"

// Schema is mailward's LDAP schema for OpenLDAP's cn=config
// (schema/mailward.ldif, docs/directory.md): loadable with ldapadd into a
// running slapd or with slapadd -n0 into a new one.
//
//go:embed schema/mailward.ldif
var Schema []byte
