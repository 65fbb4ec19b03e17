package events

// The events of the organization directory in LDAP (docs/directory.md):
// 3040-3049, categorizer.
const (
	LDAPDirectoryFailing   = 3040
	LDAPDirectoryExpired   = 3041
	LDAPDirectoryRecovered = 3042
)

func init() {
	for _, d := range []Def{
		{LDAPDirectoryFailing, Warning, "categorizer", Minimum,
			"The organization directory at {url} cannot be read or was refused: {error}. The copy read at {loaded} keeps serving until {stale_till}.",
			"Reading the organization directory from LDAP failed (the server is down, does not answer within organization.ldap.timeout, refused the bind) or what it returned is not a valid organization (an unknown group member, a server without its FQDN). Nothing changes for senders yet: the last good copy serves until organization.ldap.stale_ttl after it was read. Changes made in LDAP since are not in force.",
			"Check the LDAP server and mailward's access to it ('mailward directory export --config F' reads it as the server does); fix the entries the error names. The directory is tried again every quarter of cache_ttl."},
		{LDAPDirectoryExpired, Error, "categorizer", Minimum,
			"The organization directory at {url} has not been read since {loaded}; its copy expired at {stale_till} ({error}). Recipients of the organization get 451 4.3.0 and organization authentication gets 454 4.7.0 until it answers.",
			"The LDAP outage lasted longer than organization.ldap.stale_ttl. An expired copy is not trusted to accept, refuse or route mail: RCPT to the organization's addresses is deferred (451 4.3.0, KB304897: never accepted and then lost, never a relay) and servers authenticating with X-EXPS get 454 4.7.0 and keep their mail queued (KB979174).",
			"Bring the LDAP server back or point organization.ldap.url at a replica; mail resumes by itself when a read succeeds (event 3042). A longer stale_ttl rides out longer outages with older data."},
		{LDAPDirectoryRecovered, Information, "categorizer", Minimum,
			"The organization directory at {url} answers again; the entries read now are in force.",
			"A read of the organization directory succeeded after failures (event 3040 or 3041).",
			"None needed."},
	} {
		Catalogue[d.ID] = d
	}
}
