package smtp

import (
	"time"

	"mailward/filter"
	"mailward/policy"
)

// Settings are one virtual server's settings as plain values; the setup
// package makes them from a [[virtual_server]] table (docs/configuration.md).
type Settings struct {
	// Name identifies the virtual server in events and logs.
	Name string
	// FQDN is the name in the greeting, the EHLO reply and Received:
	// (KB843106: it is how the organization's servers know each other).
	FQDN string
	// RequireTLS refuses MAIL before STARTTLS. STARTTLS itself is
	// offered when Options.TLS is set.
	RequireTLS bool
	// Auth lists the SASL mechanisms offered to users: PLAIN, LOGIN.
	Auth []string
	// AuthPlaintext allows AUTH before TLS (RFC 4954 §4 says no).
	AuthPlaintext bool
	// OrgAuth lists the X-EXPS mechanisms offered to servers of the
	// organization (LOGIN, GSSAPI); empty: no organization mail here.
	OrgAuth []string
	// OrgAuthEveryone offers X-EXPS to every client, not only to an EHLO
	// name the directory knows as a server: a replicated directory may not
	// know a new server yet, and its X-EXPS must then get KB979174's 454
	// 4.7.0 rather than KB843106's 504 (org.go).
	OrgAuthEveryone bool
	// DirectoryReplicated: the organization directory is a replica (LDAP)
	// that may be behind a peer's, so an unknown recipient from an
	// authenticated organization server is 451, not 550 (commands.go).
	DirectoryReplicated bool
	// Relay says who may relay through this virtual server (KB304897).
	Relay policy.Rules
	// NormalizeBareLF stores a bare LF or CR as CRLF instead of refusing
	// the message (RFC 5321 §2.3.8).
	NormalizeBareLF bool
	// Chunking offers CHUNKING and takes BDAT (RFC 3030, bdat.go).
	Chunking bool
	// ConnectionFilter and SenderFilter are nil when off
	// (docs/filtering.md; smtp/filters.go).
	ConnectionFilter *filter.Connection
	SenderFilter     *filter.Sender
	// ContentFilter scans messages from outside the organization with
	// rspamd (contentfilter.go); nil when off.
	ContentFilter *ContentFilter
	Limits
}

// Limits bound what one client may take (docs/configuration.md lists
// each with its reply).
type Limits struct {
	MaxMessageSize int64
	// MaxRecipients counts every accepted RCPT of a transaction,
	// duplicates too (Postfix's smtpd_recipient_limit).
	MaxRecipients int
	// MaxLineLength bounds a command line; MaxDataLineLength a line of
	// message text (RFC 5321 §4.5.3.1.4, §4.5.3.1.6; CRLF included).
	MaxLineLength     int
	MaxDataLineLength int
	// MaxHops is the most trace fields a message may carry, ours
	// included (RFC 5321 §6.3).
	MaxHops   int
	MaxErrors int
	// IdleTimeout bounds the whole of each command line, however it
	// trickles in; StressIdleTimeout replaces it while the virtual server is
	// nearly full (Postfix's stress-dependent smtpd_timeout).
	IdleTimeout, StressIdleTimeout time.Duration
	// MinDataRate: the DATA phase must end within IdleTimeout plus one
	// second per MinDataRate octets received (Postfix's
	// smtpd_min_data_rate).
	MinDataRate int64
	// MaxSessionTime and MaxCommands bound a whole session.
	MaxSessionTime      time.Duration
	MaxCommands         int
	MaxConnections      int
	MaxConnectionsPerIP int
	// AuthFailureDelay is the wait before answering a failed AUTH; it
	// doubles with each further failure from the client address or for
	// the account (AuthGuard).
	AuthFailureDelay time.Duration
}
