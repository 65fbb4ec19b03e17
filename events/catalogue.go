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

// Event IDs. Those the seed articles name will keep their seed numbers
// (1035, 1704, 1706, 7004, 7006, 7010); the rest are mailward's own,
// grouped by thousands: 1xxx receive and service, 2xxx queue, 3xxx
// delivery, 4xxx DSN, 7xxx sending to the organization.
const (
	ServiceStarted       = 1000
	ServiceStopped       = 1001
	ListenerFailed       = 1002
	ConnectionRefused    = 1010
	ErrorLimit           = 1011
	IdleTimeout          = 1012
	RelayDenied          = 1020
	UnknownRecipient     = 1021
	DirectoryUnavailable = 1022
	BareLineEnding       = 1023
	MessageTooBig        = 1024
	AuthFailed           = 1030
	AuthSucceeded        = 1031
	OrgAuthTemporary     = 1035 // seed 003
	OrgAuthFailed        = 1704 // seed 000
	OrgAuthRefused       = 1706 // seed 000
	SendAsDenied         = 1711
	XEXCH50Accepted      = 1712
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
	NDRSent              = 4000
	NDRSuppressed        = 4001
	DelayNoticeSent      = 4002
	SuccessNoticeSent    = 4003
	XEXCH50Failed        = 7004 // seed 000
	OrgAuthTrouble       = 7006 // seed 000
	XEXCH50Protocol      = 7010 // seed 000
)

// Catalogue lists every event mailward writes. docs/events.md is generated
// from it (go run ./events/gendoc) and a test keeps the two in step.
var Catalogue = map[int]Def{
	ServiceStarted: {ServiceStarted, Information, "service", None,
		"mailward {version} started as {fqdn}; virtual servers: {listeners}.",
		"The server process started.", "None needed."},
	ServiceStopped: {ServiceStopped, Information, "service", None,
		"mailward stopped ({reason}).",
		"The server received a stop signal (SIGTERM or SIGINT).", "None needed, unless the reason is an error."},
	ListenerFailed: {ListenerFailed, Error, "service", None,
		"Virtual server {connector} cannot listen on {address}: {error}.",
		"The address is in use by another program or is not configured on this host.",
		"Free the port or change the listener's address, then restart."},
	ConnectionRefused: {ConnectionRefused, Warning, "smtp_receive", Minimum,
		"Connection from [{ip}] to virtual server {connector} refused: {limit} limit of {max} reached.",
		"Too many simultaneous connections in total or from one client address.",
		"If the client is legitimate, raise max_connections or max_connections_per_ip for the listener."},
	ErrorLimit: {ErrorLimit, Warning, "smtp_receive", Minimum,
		"Session from [{ip}] on virtual server {connector} closed after {errors} errors.",
		"The client sent more invalid commands than max_errors allows; often a scanner or a broken client.",
		"None, unless a legitimate client is affected: then fix the client or raise max_errors."},
	IdleTimeout: {IdleTimeout, Information, "smtp_receive", Medium,
		"Session from [{ip}] on virtual server {connector} closed after {timeout} idle.",
		"The client sent nothing for longer than idle_timeout.", "None needed."},
	RelayDenied: {RelayDenied, Warning, "smtp_receive", Minimum,
		"Relay denied on virtual server {connector} to client [{ip}] (EHLO {helo}, authenticated as {user}): sender {from}, recipient {rcpt}.",
		"A client that may not relay gave a recipient outside the local domains (seed 004).",
		"Nothing, for strangers. For a client that should relay: authenticate it, or add its address to relay_networks."},
	UnknownRecipient: {UnknownRecipient, Information, "smtp_receive", Medium,
		"Unknown recipient {rcpt} refused on virtual server {connector} from [{ip}] after a {delay} tarpit.",
		"Recipient filtering found no mailbox for the address (seed 004).",
		"Check the address; many of these from one client are a directory harvest attempt."},
	DirectoryUnavailable: {DirectoryUnavailable, Error, "smtp_receive", None,
		"The directory cannot be read: {error}. Recipients are answered 451 4.3.0 until it is back.",
		"The recipients file is missing, unreadable or invalid.",
		"Restore the file named by directory.file; mailward re-reads it as soon as it changes."},
	BareLineEnding: {BareLineEnding, Warning, "smtp_receive", Minimum,
		"Message from [{ip}] on virtual server {connector} refused: {what} in DATA.",
		"The client ends lines with a bare LF or CR, which RFC 5321 §2.3.8 forbids and SMTP smuggling exploits.",
		"Fix the client; or, for a trusted legacy client, set bare_lf = \"normalize\" on its listener."},
	MessageTooBig: {MessageTooBig, Information, "smtp_receive", Medium,
		"Message from [{ip}] on virtual server {connector} refused: {size} bytes exceeds the limit of {max}.",
		"The message is larger than max_message_size.", "Raise max_message_size if such messages are expected."},
	AuthFailed: {AuthFailed, Warning, "auth", Minimum,
		"Authentication failed on virtual server {connector}: mechanism {mechanism}, user {user}, source IP [{ip}]: {error}.",
		"Wrong credentials, an unknown user, or a password-guessing client.",
		"Check the user's password; many failures from one address are an attack and are slowed down by auth_failure_delay."},
	AuthSucceeded: {AuthSucceeded, Information, "auth", Maximum,
		"Client [{ip}] authenticated on virtual server {connector} as {user} with {mechanism}.",
		"A successful AUTH.", "None needed."},
	OrgAuthTemporary: {OrgAuthTemporary, Error, "auth", None,
		"Inbound authentication failed with error {error} for Receive connector {connector}. The authentication mechanism is {mechanism}. The source IP address of the client who tried to authenticate is [{ip}].",
		"A server of the organization could not be verified right now (seed 003): clock skew over 5 minutes, a missing or duplicate SPN, the KDC unreachable, or the server not yet in this server's directory (replication).",
		"Run 'mailward diag auth <peer>' from the sender and 'mailward diag spn --duplicates' here; check clocks ('mailward diag clock'). The sender keeps the message queued and retries."},
	OrgAuthFailed: {OrgAuthFailed, Warning, "auth", Minimum,
		"X-EXPS authentication of {server} failed on virtual server {connector} from [{ip}]: mechanism {mechanism}, error {error}.",
		"The peer's credentials were refused (wrong secret, SEC_E_LOGON_DENIED (0x8009030c) for Kerberos, a stale keytab).",
		"Reset the server's account secret (password_file on the sender, password_hash here) or its keytab."},
	OrgAuthRefused: {OrgAuthRefused, Warning, "auth", Minimum,
		"X-EXPS refused on virtual server {connector} to [{ip}]: EHLO name {helo} is not a server of the organization.",
		"The sender's FQDN (its EHLO name) is not in the organization directory: a wrong or spoofed FQDN (seed 000).",
		"Set the sending server's fqdn to its name in the organization, or add it to the directory."},
	SendAsDenied: {SendAsDenied, Warning, "auth", Minimum,
		"XEXCH50 from {server} refused: SendAs is denied ({reason}).",
		"A DENY entry for send-as applies to the server directly or through a group it is (transitively) in (seed 000: a DENY wins over an ALLOW).",
		"Remove the DENY entry, or take the server out of the group that carries it."},
	XEXCH50Accepted: {XEXCH50Accepted, Information, "smtp_receive", Maximum,
		"Organization properties ({size} octets) accepted from {server} with XEXCH50.",
		"An authenticated organization server passed message properties.", "None needed."},
	XEXCH50Failed: {XEXCH50Failed, Error, "smtp_send", Medium,
		"The XEXCH50 command failed for message {queue_id}: the remote server {remote} answered {reply}. The message is delivered without its organization properties.",
		"The next hop did not accept the properties: not authenticated (504), outside the organization (504, or 505 from old servers), SendAs denied, or the verb blocked in transit (seed 000).",
		"Run 'mailward diag auth {remote}'. For a server outside the organization keep suppress_external on."},
	OrgAuthTrouble: {OrgAuthTrouble, Error, "smtp_send", Minimum,
		"Could not authenticate to organization server {remote}: {error}.",
		"X-EXPS was not offered (our FQDN not recognised as an organization server, or no TLS yet), or authentication failed.",
		"Check our fqdn against the organization directory and the receiving virtual server's org_auth; run 'mailward diag auth {remote}'."},
	XEXCH50Protocol: {XEXCH50Protocol, Warning, "smtp_send", Medium,
		"The remote host {remote} responded to the SMTP command \"XEXCH50\" with \"{reply}\".",
		"Protocol record of a failed XEXCH50 (seed 000's event 7010).", "See event 7004."},
	MessageQueued: {MessageQueued, Information, "queue", Minimum,
		"Message {queue_id} from {from} for {recipients} recipient(s), {size} bytes, queued via virtual server {connector} from [{ip}].",
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
		"Administrator {action} {target} via the admin socket: {result}.",
		"Someone used the queue viewer's admin socket (mailward queue retry, suspend, resume or delete, or a program speaking to admin.sock in the data directory); a connection from a user other than root or the server's own user is refused and logged here too.",
		"None needed. An action nobody remembers taking means root or the server's account used the socket: find out who (the uid field names the caller)."},
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
