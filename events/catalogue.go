package events

// Def describes one event: what it says, why it happens, what to do.
type Def struct {
	ID       int
	Severity Severity
	Category string
	// Level is the lowest diagnostic level at which the event is written.
	Level Level
	// Text has {field} placeholders filled from the event's fields.
	Text  string
	Cause string
	Fix   string
}

// Event IDs. Those that KB843106 and KB979174 name keep Exchange's numbers
// (1035, 1704, 1706, 7004, 7006, 7010); the rest are mailward's own,
// grouped by thousands: 1xxx receive and service, 2xxx queue, 3xxx
// delivery, 4xxx DSN, 7xxx sending to the organization. 1005-1009 are the
// event log's own (rate limit, full disk, rotation).
const (
	ServiceStarted       = 1000
	ServiceStopped       = 1001
	VirtualServerFailed  = 1002
	ConfigReloaded       = 1003
	ConfigReloadFailed   = 1004
	EventsSuppressed     = 1005
	EventLogFull         = 1006
	EventLogSpaceBack    = 1007
	EventLogRotateFailed = 1008
	EventLogNoReserve    = 1009
	ConnectionRefused    = 1010
	ErrorLimit           = 1011
	IdleTimeout          = 1012
	SessionTimeLimit     = 1013
	CommandLimit         = 1014
	DataTimeout          = 1015
	RelayDenied          = 1020
	UnknownRecipient     = 1021
	DirectoryUnavailable = 1022
	BareLineEnding       = 1023
	MessageTooBig        = 1024
	DataLineTooLong      = 1025
	TooManyHops          = 1026
	RecipientNotHereYet  = 1028 // docs/directory.md#replication
	AuthFailed           = 1030
	AuthSucceeded        = 1031
	AuthLockout          = 1032
	OrgAuthTemporary     = 1035 // KB979174
	OrgAuthFailed        = 1704 // KB843106
	OrgAuthRefused       = 1706 // KB843106
	SendAsDenied         = 1711
	XEXCH50Accepted      = 1712
	XEXCH50Refused       = 1713
	MessageQueued        = 2000
	SpoolWriteFailed     = 2001
	SpoolRecovered       = 2002
	SpoolCorrupt         = 2003
	SpoolLoading         = 2004
	SpoolListFailed      = 2005
	QueueAction          = 2010
	Delivered            = 3000
	DeliveryDeferred     = 3001
	DeliveryFailed       = 3002
	HopLimitExceeded     = 3003
	MailLoopsBack        = 3004
	NDRSent              = 4000
	NDRSuppressed        = 4001
	DelayNoticeSent      = 4002
	SuccessNoticeSent    = 4003
	GroupExpanded        = 3005
	ExpansionCycle       = 3006
	RestrictionRefused   = 3007
	AlternateApplied     = 3008
	ExpansionLimit       = 3009
	ForwardingLoop       = 3010
	JournalReportQueued  = 3011 // docs/journaling.md
	JournalNotRepeated   = 3012
	RestrictionAtRCPT    = 1027
	BdatBadSize          = 1050
	BdatReceived         = 1051
	XEXCH50Failed        = 7004 // KB843106
	OrgAuthTrouble       = 7006 // KB843106
	XEXCH50Protocol      = 7010 // KB843106
)

// Connection and sender filtering (docs/filtering.md): 1055-1069.
const (
	ConnectionDenied  = 1055
	ClientListed      = 1056
	ListedException   = 1057
	DNSBLFailedOpen   = 1058
	DNSBLFailedClosed = 1059
	SenderBlocked     = 1060
	SenderDropped     = 1061
)

// Web administration (docs/web-admin.md): 1080-1089.
const (
	WebAdminLogin         = 1080
	WebAdminLoginFailed   = 1081
	WebAdminLockout       = 1082
	WebAdminLevelsChanged = 1083
	WebAdminDiagAuth      = 1084
)

// Catalogue lists every event mailward writes. docs/events.md is generated
// from it (go run ./events/gendoc) and a test keeps the two in step.
var Catalogue = map[int]Def{
	ServiceStarted: {ServiceStarted, Information, "service", None,
		"mailward {version} started as {fqdn}; virtual servers: {virtual_servers}.",
		"The server process started.", "None needed."},
	ServiceStopped: {ServiceStopped, Information, "service", None,
		"mailward stopped ({reason}).",
		"The server received a stop signal (SIGTERM or SIGINT).", "None needed, unless the reason is an error."},
	VirtualServerFailed: {VirtualServerFailed, Error, "service", None,
		"Virtual server {virtual_server} cannot listen on {address}: {error}.",
		"The address is in use by another program or is not configured on this host.",
		"Free the port or change the virtual server's address, then restart."},
	ConfigReloaded: {ConfigReloaded, Information, "service", None,
		"Configuration reloaded from {file} ({by}); {report}.",
		"The server was asked to reload (SIGHUP, e.g. from systemctl reload, or mailward reload) and applied what can change without a restart: domains, mailboxes, the recipients file, the organization directory, diagnostic levels, the TLS certificate and the virtual servers (settings, added, moved and removed ones). Sessions in progress finish on the settings they started with; new sessions get the new ones.",
		"If the event names sections applied only by a restart, restart mailward when convenient (docs/configuration.md, Reloading)."},
	ConfigReloadFailed: {ConfigReloadFailed, Error, "service", None,
		"Reload of {file} ({by}) refused; the running configuration is kept: {error}.",
		"The configuration file no longer loads or validates (a typo, an unknown key, a missing file it names), or the address of a virtual server it adds or moves cannot be listened on (in use, or not an address of this host).",
		"Run 'mailward config check --config FILE', fix what it reports, and reload again (mailward reload, or SIGHUP)."},
	EventsSuppressed: {EventsSuppressed, Warning, "service", None,
		"Event {event} {from}: {count} more in the {window} after {since} were not written (rate limit: {limit} a minute). The last one: {last}",
		"An event repeated more often than event_log.rate_limit allows for one event ID and client address (for errors, for one kind of error): a flood of refused connections, a password-guessing client, or a failure that repeats for every message. The first events of each minute are written; the rest are only counted here, and are not in the server log either.",
		"Look at the written events of that ID for the cause and act on it. Raise event_log.rate_limit only if every single event is needed."},
	EventLogFull: {EventLogFull, Error, "service", None,
		"The file system of the event log {file} is full. Until there is space again only errors and level-none events are written, into the {reserve} bytes reserved for them; the other events go to the server log only.",
		"The file system of data_dir has no free space (the spool reports it as event 2001). mailward keeps event_log.reserve bytes allocated past the end of the event log for this case.",
		"Free space on the file system of data_dir. Event 1007 follows when the event log has space again."},
	EventLogSpaceBack: {EventLogSpaceBack, Information, "service", None,
		"The event log has space again. While its file system was full (since {since}), {withheld} event(s) went to the server log only and {lost} could not be written at all.",
		"Space was freed on the file system of data_dir after event 1006.",
		"None needed. The events not written here are in the server log ([log]) if that is on another file system."},
	EventLogRotateFailed: {EventLogRotateFailed, Error, "service", None,
		"The event log {file} cannot be rotated: {error}. It is written on, past event_log.max_size, and rotation is tried again in a minute.",
		"The data directory is not writable, or its file system has no room for the new file's reserve (event_log.reserve).",
		"Check the permissions of data_dir and the free space of its file system."},
	EventLogNoReserve: {EventLogNoReserve, Warning, "service", None,
		"No space can be reserved past the end of the event log {file}: {error}. When its file system is full, events are lost.",
		"The file system of data_dir does not support fallocate(2), as some network file systems do not.",
		"Put data_dir on a local file system such as ext4, XFS or tmpfs, or accept that a full disk silences the event log."},
	ConnectionRefused: {ConnectionRefused, Warning, "smtp_receive", Minimum,
		"Connection from [{ip}] to virtual server {virtual_server} refused: {limit} limit of {max} reached.",
		"Too many simultaneous connections in total or from one client address.",
		"If the client is legitimate, raise max_connections or max_connections_per_ip for the virtual server."},
	ErrorLimit: {ErrorLimit, Warning, "smtp_receive", Minimum,
		"Session from [{ip}] on virtual server {virtual_server} closed after {errors} errors.",
		"The client sent more invalid commands than max_errors allows; often a scanner or a broken client.",
		"None, unless a legitimate client is affected: then fix the client or raise max_errors."},
	IdleTimeout: {IdleTimeout, Information, "smtp_receive", Medium,
		"Session from [{ip}] on virtual server {virtual_server} closed after {timeout} idle.",
		"The client sent nothing for longer than idle_timeout.", "None needed."},
	SessionTimeLimit: {SessionTimeLimit, Warning, "smtp_receive", Minimum,
		"Session from [{ip}] on virtual server {virtual_server} closed: it lasted longer than max_session_duration ({limit}).",
		"A client kept its connection longer than a session may last: a very slow client, or one holding a connection slot on purpose (slowloris).",
		"None, unless a legitimate client sends huge messages over a slow link: then raise max_session_duration for its virtual server."},
	CommandLimit: {CommandLimit, Warning, "smtp_receive", Minimum,
		"Session from [{ip}] on virtual server {virtual_server} closed after {limit} commands (max_commands).",
		"A client sent more commands in one session than max_commands allows: a loop in a client, or an attempt to keep a slot busy.",
		"None, unless a legitimate bulk sender is affected: then raise max_commands for its virtual server."},
	DataTimeout: {DataTimeout, Warning, "smtp_receive", Minimum,
		"Session from [{ip}] on virtual server {virtual_server} closed during DATA after {octets} octets in {elapsed}: slower than min_data_rate ({rate} octets/s) allows.",
		"The client sent the message text too slowly, or stopped sending it: a broken link, or a client holding the slot on purpose (slowloris).",
		"None, unless a legitimate client on a slow link is affected: then lower min_data_rate or raise idle_timeout for its virtual server."},
	RelayDenied: {RelayDenied, Warning, "smtp_receive", Minimum,
		"Relay denied on virtual server {virtual_server} to client [{ip}] (EHLO {helo}, authenticated as {user}): sender {from}, recipient {rcpt}.",
		"A client that may not relay gave a recipient outside the local domains (KB304897).",
		"Nothing, for strangers. For a client that should relay: authenticate it, or add its address to relay_networks."},
	UnknownRecipient: {UnknownRecipient, Information, "smtp_receive", Medium,
		"Unknown recipient {rcpt} refused on virtual server {virtual_server} from [{ip}] after a {delay} tarpit.",
		"Recipient filtering found no mailbox for the address (KB304897).",
		"Check the address; many of these from one client are a directory harvest attempt."},
	RecipientNotHereYet: {RecipientNotHereYet, Warning, "smtp_receive", Minimum,
		"Recipient {rcpt} from organization server {server} is not in this server's directory yet; answered 451 4.1.1 on virtual server {virtual_server}.",
		"The sending server's directory knows the address and this server's replica does not: directory replication lag (KB979174), or an address the sender routes here wrongly.",
		"Check replication to this server's directory (mailward diag auth --peer-config, the LDAP consumer's contextCSN). The sender keeps the message and retries; it bounces only at its queue's max_age."},
	DirectoryUnavailable: {DirectoryUnavailable, Error, "smtp_receive", None,
		"The directory cannot be read: {error}. Recipients are answered 451 4.3.0 until it is back.",
		"The recipients file is missing, unreadable or invalid.",
		"Restore the file named by directory.file; mailward re-reads it as soon as it changes."},
	BareLineEnding: {BareLineEnding, Warning, "smtp_receive", Minimum,
		"Message from [{ip}] on virtual server {virtual_server} refused: {what} in DATA.",
		"The client ends lines with a bare LF or CR, which RFC 5321 §2.3.8 forbids and SMTP smuggling exploits.",
		"Fix the client; or, for a trusted legacy client, set bare_lf = \"normalize\" on its virtual server."},
	MessageTooBig: {MessageTooBig, Information, "smtp_receive", Medium,
		"Message from [{ip}] on virtual server {virtual_server} refused: {size} bytes exceeds the limit of {max}.",
		"The message is larger than max_message_size.", "Raise max_message_size if such messages are expected."},
	DataLineTooLong: {DataLineTooLong, Warning, "smtp_receive", Minimum,
		"Message from [{ip}] on virtual server {virtual_server} refused: a line of {length} octets is longer than max_data_line_length ({max}).",
		"RFC 5321 section 4.5.3.1.6 allows 1000 octets per text line, CRLF included; a longer line would be refused or cut by the next hops, so the message is refused here, where the sender still learns why.",
		"The sending software should encode long lines (quoted-printable or base64); or raise max_data_line_length for its virtual server, knowing that next hops may refuse the message."},
	TooManyHops: {TooManyHops, Warning, "smtp_receive", Minimum,
		"Message from [{ip}] on virtual server {virtual_server} refused: {hops} trace fields (Received:, Delivered-To:), more than max_hops ({max}): a mail loop.",
		"The message has gone round between servers more often than server.max_hops allows (RFC 5321 section 6.3): two servers forward the domain to each other, or a smart host points back at this server.",
		"Find the loop in the message's Received: fields and fix the routing (smart_host, [[route]], MX records)."},
	BdatBadSize: {BdatBadSize, Warning, "smtp_receive", Minimum,
		"Session from [{ip}] on virtual server {virtual_server} closed: BDAT with an unreadable chunk size ({arg}).",
		"The client sent BDAT without a chunk size mailward can read (RFC 3030 section 2). The octets that follow cannot be told from the next command, so the session ends with 421 rather than read message text as commands.",
		"Fix the client's BDAT command; a client that cannot should not use CHUNKING."},
	BdatReceived: {BdatReceived, Information, "smtp_receive", Medium,
		"Message {queue_id} from [{ip}] on virtual server {virtual_server} arrived with BDAT in {chunks} chunk(s), {octets} octets (RFC 3030).",
		"The client used CHUNKING instead of DATA. The message was judged and stored as a DATA one is (docs/smtp.md).",
		"None needed."},
	AuthFailed: {AuthFailed, Warning, "auth", Minimum,
		"Authentication failed on virtual server {virtual_server}: mechanism {mechanism}, user {user}, source IP [{ip}]: {error}.",
		"Wrong credentials, an unknown user, or a password-guessing client.",
		"Check the user's password; many failures from one address are an attack and are slowed down by auth_failure_delay."},
	AuthLockout: {AuthLockout, Warning, "auth", Minimum,
		"Authentication from [{ip}] for {account} refused for {duration}: {failures} failures within {window} ({by}).",
		"Too many failed logins from one client address, or for one account from anywhere: password guessing, possibly spread over many sessions. Until the cooling-off period ends, AUTH answers 454 4.7.0 without checking the password.",
		"If the client is legitimate, fix its stored password and wait for the period to end; otherwise block the address. The limits are in [auth_limits]."},
	AuthSucceeded: {AuthSucceeded, Information, "auth", Maximum,
		"Client [{ip}] authenticated on virtual server {virtual_server} as {user} with {mechanism}.",
		"A successful AUTH.", "None needed."},
	OrgAuthTemporary: {OrgAuthTemporary, Error, "auth", None,
		"Inbound authentication failed with error {error} for Receive connector {virtual_server}. The authentication mechanism is {mechanism}. The source IP address of the client who tried to authenticate is [{ip}].",
		"A server of the organization could not be verified right now (KB979174): clock skew over 5 minutes, a missing or duplicate SPN, the KDC unreachable, or the server not yet in this server's directory (replication).",
		"Run 'mailward diag auth <peer>' from the sender and 'mailward diag spn --duplicates' here; check clocks ('mailward diag clock'). The sender keeps the message queued and retries."},
	OrgAuthFailed: {OrgAuthFailed, Warning, "auth", Minimum,
		"X-EXPS authentication of {server} failed on virtual server {virtual_server} from [{ip}]: mechanism {mechanism}, error {error}.",
		"The peer's credentials were refused (wrong secret, SEC_E_LOGON_DENIED (0x8009030c) for Kerberos, a stale keytab).",
		"Reset the server's account secret (password_file on the sender, password_hash here) or its keytab."},
	OrgAuthRefused: {OrgAuthRefused, Warning, "auth", Minimum,
		"X-EXPS refused on virtual server {virtual_server} to [{ip}]: EHLO name {helo} is not a server of the organization.",
		"The sender's FQDN (its EHLO name) is not in the organization directory: a wrong or spoofed FQDN (KB843106).",
		"Set the sending server's fqdn to its name in the organization, or add it to the directory."},
	SendAsDenied: {SendAsDenied, Warning, "auth", Minimum,
		"XEXCH50 from {server} refused: SendAs is denied ({reason}).",
		"A DENY entry for send-as applies to the server directly or through a group it is (transitively) in (KB843106: a DENY wins over an ALLOW).",
		"Remove the DENY entry, or take the server out of the group that carries it."},
	XEXCH50Refused: {XEXCH50Refused, Warning, "smtp_receive", Medium,
		"XEXCH50 from [{ip}] (EHLO {helo}) on virtual server {virtual_server} refused with {reply}: {reason}. The message's organization properties are lost: journal reports will be duplicated, restricted groups will refuse.",
		"A client sent XEXCH50 without having authenticated as a server of the organization (KB843106): a server outside the organization that does not suppress XEXCH50, or an organization server whose EHLO name this server does not know, or which skipped X-EXPS after STARTTLS.",
		"If the client is a server of the organization, run 'mailward diag auth' on it against this server; otherwise set SuppressExternal on the sending side."},
	XEXCH50Accepted: {XEXCH50Accepted, Information, "smtp_receive", Maximum,
		"Organization properties ({size} octets) accepted from {server} with XEXCH50.",
		"An authenticated organization server passed message properties.", "None needed."},
	XEXCH50Failed: {XEXCH50Failed, Error, "smtp_send", Medium,
		"The XEXCH50 command failed for message {queue_id}: the remote server {remote} answered {reply}. The message is delivered without its organization properties, which are lost: journal reports will be duplicated, restricted groups will refuse.",
		"The next hop did not accept the properties: not authenticated (504), outside the organization (504, or 505 from old servers), SendAs denied, or the verb blocked in transit (KB843106).",
		"Run 'mailward diag auth {remote}'. For a server outside the organization keep suppress_external on."},
	OrgAuthTrouble: {OrgAuthTrouble, Error, "smtp_send", Minimum,
		"Could not authenticate to organization server {remote}: {error}.",
		"X-EXPS was not offered (our FQDN not recognised as an organization server, or no TLS yet), or authentication failed.",
		"Check our fqdn against the organization directory and the receiving virtual server's org_auth; run 'mailward diag auth {remote}'."},
	XEXCH50Protocol: {XEXCH50Protocol, Warning, "smtp_send", Medium,
		"The remote host {remote} responded to the SMTP command \"XEXCH50\" with \"{reply}\".",
		"Protocol record of a failed XEXCH50 (KB843106's event 7010).", "See event 7004."},
	MessageQueued: {MessageQueued, Information, "queue", Minimum,
		"Message {queue_id} from {from} for {recipients} recipient(s), {size} bytes, queued via virtual server {virtual_server} from [{ip}].",
		"A message was accepted: it is on disk and fsynced.", "None needed."},
	SpoolWriteFailed: {SpoolWriteFailed, Error, "queue", None,
		"Cannot write to the spool: {error}. A client waiting for this write was answered with a temporary failure; a delivery or bounce waiting for it is retried.",
		"The disk is full, read-only or failing.",
		"Free space or repair the file system; clients retry on their own."},
	SpoolRecovered: {SpoolRecovered, Information, "queue", None,
		"Spool scan on start found {count} message(s) to deliver.",
		"Messages were queued when the server last stopped.", "None needed."},
	SpoolCorrupt: {SpoolCorrupt, Error, "queue", None,
		"Queue file {file} cannot be read and was moved to {moved}: {error}.",
		"A queue file was damaged outside mailward (manual editing, disk fault).",
		"Inspect the file in the corrupt/ directory; it is not deleted."},
	SpoolLoading: {SpoolLoading, Information, "queue", None,
		"Loading the spool in the background: {count} message(s) queued before the start; new mail is accepted meanwhile.",
		"The server started with messages in the spool. They are loaded and scheduled one by one while the virtual servers and the admin socket already answer; event 2002 follows when all are loaded, and 'mailward queue list' shows the progress.",
		"None needed."},
	SpoolListFailed: {SpoolListFailed, Error, "queue", None,
		"Cannot list the spool's active/ directory: {error}. Messages queued before the start are not delivered until the server is restarted.",
		"The queue's active/ directory could not be read at start (permissions, a disk fault). New mail is still accepted and delivered.",
		"Fix the directory's permissions or the disk, then restart mailward; the messages in active/ are delivered then."},
	QueueAction: {QueueAction, Information, "queue", Minimum,
		"Administrator {action} {target} via {via}: {result}.",
		"Someone used the queue viewer: the admin socket (mailward queue retry, suspend, resume, delete, freeze or unfreeze, or a program speaking to admin.sock in the data directory; a connection from a user other than root or the server's own user is refused and logged here too), or the web administration's Queue Viewer (docs/web-admin.md), which names the administrator and the client address (the user and ip fields).",
		"None needed. An action nobody remembers taking means root or the server's account used the socket (the uid field names the caller), or an administrator's web login was used (the user and ip fields): find out who."},
	WebAdminLogin: {WebAdminLogin, Information, "auth", Minimum,
		"Web administration: {user} {action} from {ip}.",
		"An administrator logged in to or out of the web administration (docs/web-admin.md).",
		"None needed. A login nobody remembers means the password of that [[web_admin.user]] is known to someone else: change it."},
	WebAdminLoginFailed: {WebAdminLoginFailed, Warning, "auth", None,
		"Web administration: login as {user} from {ip} refused: {reason}.",
		"A wrong user name or password was given on the web administration's login page, or a login was tried while logins were locked for that client or name.",
		"If it was not a mistyped password, someone is guessing: keep web_admin.address on loopback or behind a firewall; the login rate limit (web_admin.login_failures, login_lockout) slows them down."},
	WebAdminLockout: {WebAdminLockout, Warning, "auth", None,
		"Web administration: logins {who} locked for {lockout} after {failures} failed attempts.",
		"Failed logins from one client address, or for one user name, reached web_admin.login_failures; further logins from it, or as it, are refused until the lockout ends, even with the right password.",
		"Wait for the lockout to end. If nobody mistyped, someone is guessing passwords: find the client and block it."},
	WebAdminLevelsChanged: {WebAdminLevelsChanged, Information, "service", None,
		"Web administration: {user} set the diagnostic level of {category} to {level} (was {old}), for the running server only until the next reload or restart.",
		"An administrator changed a category's diagnostic level on the Event Viewer. The configuration file is not rewritten: a reload (SIGHUP) or a restart applies its [diagnostics] again.",
		"None needed. To keep the level, set it in [diagnostics] of the configuration file."},
	WebAdminDiagAuth: {WebAdminDiagAuth, Information, "service", Minimum,
		"Web administration: {user} ran diag auth against {server} ({address}): {result}.",
		"An administrator ran the organization authentication check (mailward diag auth) from the Organization page.",
		"If the result names a failed step, follow its advice (docs/organization.md, KB843106, KB979174)."},
	Delivered: {Delivered, Information, "delivery", Minimum,
		"Message {queue_id} delivered to {rcpt} ({where}).",
		"A recipient's delivery succeeded.", "None needed."},
	DeliveryDeferred: {DeliveryDeferred, Warning, "delivery", Minimum,
		"Delivery of message {queue_id} to {rcpt} deferred: {error}.",
		"A temporary failure (disk, directory, remote host).",
		"Fix the named cause; the message is retried on schedule."},
	DeliveryFailed: {DeliveryFailed, Warning, "delivery", Minimum,
		"Delivery of message {queue_id} to {rcpt} failed: {status} {error}.",
		"A permanent failure: unknown user, refused by the next hop, or expired.",
		"The sender gets a non-delivery report; check the address."},
	HopLimitExceeded: {HopLimitExceeded, Warning, "categorizer", Minimum,
		"Message {queue_id} from <{from}> carries {hops} trace fields (Received:, Delivered-To:), more than server.max_hops ({max}): it is looping, and its {recipients} recipient(s) fail with 5.4.6 instead of going round again.",
		"A queued message has passed through more mail servers than server.max_hops allows (RFC 5321 §6.3): a mail loop, between this server and another or through this server alone (a smart host, route or MX that leads back here), or a message queued before the limit was lowered. The sender gets a non-delivery report.",
		"Look at the Received: fields of the returned header for the servers the message went round; fix the routing that sends mail back (see event 3004, delivery.smart_host, [[route]], the MX records)."},
	MailLoopsBack: {MailLoopsBack, Error, "delivery", Minimum,
		"Mail for {domain} loops back to myself: the next hop {host} [{addr}] of delivery queue {hop} {reason}. Message {queue_id}: {recipients} recipient(s) fail with 5.4.6.",
		"The next hop of a remote delivery (delivery.smart_host, a [[route]]'s smart_host, delivery.unresolved_host, or the domain's best MX host) is this server itself: its address is one this server listens on, or it greeted or answered EHLO with one of this server's names (server.fqdn, a virtual server's fqdn). Sending would only bring the message back here.",
		"Point the route at another server, or make the domain a local [[domain]] if this server should take its mail. Two servers must not share one fqdn."},
	// 3005 and 3008 are written at minimum, the default: they are steps
	// of a message's path that message tracking shows (docs/tracking.md),
	// one per message and group or mailbox, like 2000 and 3000.
	GroupExpanded: {GroupExpanded, Information, "categorizer", Minimum,
		"Message {queue_id}: group {group} expanded ({members} members, {added} recipients added).",
		"A distribution group was expanded for the message on this server: the first server of the organization that categorizes it (or the group's expansion server) does it, once, and marks its members in the XEXCH50 properties so that no server expands it again (KB843106).",
		"None needed."},
	ExpansionCycle: {ExpansionCycle, Warning, "categorizer", Minimum,
		"Message {queue_id}: group {group} contains itself ({chain}); it was expanded once.",
		"Distribution groups are nested in a cycle. Every group is expanded at most once per message, so nobody gets two copies, but the nesting is a mistake.",
		"Remove one of the memberships of the cycle; 'mailward config check' names it."},
	RestrictionRefused: {RestrictionRefused, Warning, "categorizer", Minimum,
		"Message {queue_id} from {from} refused for group {group}: {reason}.",
		"The group's restrictions (accept only from authenticated senders, accept only from, refuse from) do not allow the sender. The sender gets a non-delivery report. \"Authenticated\" is the AUTH on this server or the XEXCH50 properties of the organization server before it: when XEXCH50 failed between the servers (KB843106), an authenticated sender looks unauthenticated here.",
		"If the sender authenticated on another server of the organization, check that XEXCH50 works between them ('mailward diag auth'); otherwise change the group's restrictions."},
	AlternateApplied: {AlternateApplied, Information, "categorizer", Minimum,
		"Message {queue_id}: mailbox {mailbox} forwarded to its alternate recipient {alternate} (deliver to both: {both}).",
		"The mailbox has an alternate recipient. It is applied once per organization, and the XEXCH50 properties say so to the next server.",
		"None needed."},
	ExpansionLimit: {ExpansionLimit, Warning, "categorizer", Minimum,
		"Message {queue_id}: group {group} not expanded: the message would have more than {max} expanded recipients.",
		"The expansion limit ([categorizer] max_expanded_recipients) protects the server from a message to huge or runaway nested groups. The sender gets a non-delivery report (5.2.4).",
		"Raise max_expanded_recipients if the group is legitimately this big."},
	ForwardingLoop: {ForwardingLoop, Warning, "categorizer", Minimum,
		"Message {queue_id}: forwarding loop {chain}; one copy delivered to {delivered}.",
		"Mailboxes forward to each other through their alternate recipients. The loop is cut and one copy is delivered.",
		"Fix the alternate recipients that form the loop."},
	JournalReportQueued: {JournalReportQueued, Information, "categorizer", Minimum,
		"Message {queue_id}: journal report for {journal_recipient} queued as its recipient {index} (rules {rules}; {recipients} recipient(s) listed; came from an organization server without its properties: {without_properties}).",
		"A journal rule matched the message, on the first server of the organization that categorized it. The journal recipient is written with the message in the same commit (decided at receipt), or, when the directory could not answer then, recorded before any delivery, and the message carries \"journaled\" in its XEXCH50 properties to the next organization servers. When it came from another organization server without its properties (XEXCH50 refused), that server may have journaled it already: this is KB843106's duplicate journal report.",
		"None needed. If without_properties is true, find the 7004 event on the sending server and run 'mailward diag auth' there."},
	JournalNotRepeated: {JournalNotRepeated, Information, "categorizer", Maximum,
		"Message {queue_id} is not journaled here: {reason}.",
		"Journaling happens once per message per organization: the server before this one journaled it (XEXCH50 property message.journaled), it is a journal report itself, or an earlier attempt here journaled it.",
		"None needed."},
	RestrictionAtRCPT: {RestrictionAtRCPT, Warning, "smtp_receive", Minimum,
		"RCPT to group {rcpt} refused on virtual server {virtual_server} for sender {from} from [{ip}]: {reason}.",
		"The group's restrictions (accept only from authenticated senders, accept only from, refuse from) do not allow the sender, and this server expands the group, so it refuses at RCPT with 550 5.7.1.",
		"If the sender should be allowed, change the group's restrictions or have the sender authenticate."},
	ConnectionDenied: {ConnectionDenied, Warning, "smtp_receive", Minimum,
		"Connection from [{ip}] to virtual server {virtual_server} refused with 554 5.7.1 by the connection filter: {reason}.",
		"The client's address is in the virtual server's connection_filter.deny list, or connection_filter.grant is set and does not hold it (docs/filtering.md).",
		"None, for a client you meant to block. Otherwise remove the entry from deny or add the client to grant; or add it to connection_filter.accept, which wins over both."},
	ClientListed: {ClientListed, Information, "smtp_receive", Medium,
		"Recipient {rcpt} refused on virtual server {virtual_server} with 550 5.7.1 for sender {from}: client [{ip}] is listed by {provider} ({zone}) with {code}.",
		"A DNS block list the virtual server uses lists the client's address with an answer that counts (docs/filtering.md). The client is refused at RCPT, not at connect, so that it can still reach the exceptions (postmaster).",
		"None, for mail from a listed address. If a legitimate sender is listed, it must have its address delisted by the list's operator; meanwhile add it to connection_filter.accept."},
	ListedException: {ListedException, Information, "smtp_receive", Medium,
		"Recipient {rcpt} accepted on virtual server {virtual_server} from client [{ip}], listed by {provider} with {code}: the recipient is a connection filter exception.",
		"A listed client wrote to a recipient in connection_filter.exceptions (postmaster by default), which stays reachable so that a listed sender can ask to be unblocked.",
		"None needed."},
	DNSBLFailedOpen: {DNSBLFailedOpen, Warning, "smtp_receive", Minimum,
		"Block list lookup of client [{ip}] on virtual server {virtual_server} failed ({error}); the client is accepted (fail_open).",
		"A block list did not answer within connection_filter.lookup_timeout, the DNS server ([dns] server) failed, or the list refused the query (answers in 127.255.255.0/24). The virtual server fails open: the client is treated as not listed.",
		"Check that the DNS server answers (dig @SERVER 2.0.0.127.ZONE) and that the list accepts queries from it; many lists refuse queries through public resolvers. Set fail_open = false to defer such clients instead."},
	DNSBLFailedClosed: {DNSBLFailedClosed, Warning, "smtp_receive", Minimum,
		"Block list lookup of client [{ip}] on virtual server {virtual_server} failed ({error}); recipient {rcpt} deferred with 451 4.7.1 (fail_open = false).",
		"A block list did not answer within connection_filter.lookup_timeout, the DNS server failed, or the list refused the query, and the virtual server fails closed. The client keeps the message and retries.",
		"Check that the DNS server answers and that the list accepts its queries; set fail_open = true to accept such clients with event 1058 instead."},
	SenderBlocked: {SenderBlocked, Information, "smtp_receive", Medium,
		"Sender {from} refused with 550 5.7.1 at MAIL on virtual server {virtual_server} from [{ip}]: it matches {pattern} of the sender filter.",
		"The MAIL FROM address matches sender_filter.blocked, or it is the empty sender <> on a virtual server with refuse_null_sender (docs/filtering.md).",
		"None, for a sender you meant to block. Otherwise remove the pattern from sender_filter.blocked."},
	SenderDropped: {SenderDropped, Warning, "smtp_receive", Minimum,
		"Message from {from} on virtual server {virtual_server} from [{ip}] accepted and dropped ({recipients} recipient(s), {size} bytes): the sender matches {pattern} and sender_filter.action is drop.",
		"The sender filter's action is drop: a blocked sender's message is answered 250 and discarded, not stored and not delivered, so that the sender does not learn it was filtered.",
		"None, for a sender you meant to block. To find a message a user misses, search this event for its sender."},
	NDRSent: {NDRSent, Information, "dsn", Minimum,
		"Non-delivery report {ndr_id} for message {queue_id} queued to {to} for {recipients} recipient(s).",
		"Some recipients of a message could not be delivered.", "None needed."},
	DelayNoticeSent: {DelayNoticeSent, Information, "dsn", Minimum,
		"Delay notice {ndr_id} for message {queue_id} queued to {to} for {recipients} recipient(s) still being retried.",
		"Some recipients are still undelivered after queue.delay_warning; the sender is told once (RFC 3464 Action: delayed).",
		"Check the delivery queue's last error (mailward queue list)."},
	SuccessNoticeSent: {SuccessNoticeSent, Information, "dsn", Minimum,
		"Success notice {ndr_id} for message {queue_id} queued to {to} for {recipients} recipient(s).",
		"The sender asked for NOTIFY=SUCCESS (RFC 3461) and the recipients were delivered here or relayed to a server without DSN.",
		"None needed."},
	NDRSuppressed: {NDRSuppressed, Information, "dsn", Minimum,
		"No non-delivery report for message {queue_id}: {reason}.",
		"The message came from the null sender <> (RFC 5321 §6.1: never bounce a bounce) or asked for no notice.",
		"None needed."},
}

// notRateLimited lists the events that the rate limit (event_log.rate_limit)
// never holds back: the record of mail flow, one event per message or
// recipient, which an administrator traces a message with and whose number
// is bounded by the mail the server accepted; the audit trail of the queue
// viewer's actions; start and stop; and the event log's own notices, which
// are few by construction. Every other event, including one a programming
// slip leaves out of the catalogue, is rate limited: forgetting to list an
// event here costs a summary, not a full disk.
var notRateLimited = map[int]bool{
	ServiceStarted: true, ServiceStopped: true,
	EventsSuppressed: true, EventLogFull: true, EventLogSpaceBack: true, EventLogRotateFailed: true, EventLogNoReserve: true,
	MessageQueued: true, SpoolRecovered: true, QueueAction: true,
	Delivered: true, DeliveryDeferred: true, DeliveryFailed: true,
	NDRSent: true, NDRSuppressed: true, DelayNoticeSent: true, SuccessNoticeSent: true,
}

// RateLimited reports whether event id is subject to the rate limit.
func RateLimited(id int) bool { return !notRateLimited[id] }
