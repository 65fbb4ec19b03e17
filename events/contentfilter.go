package events

// The events of the content filter (docs/filtering.md, "Content
// filtering and the SCL"): 1062-1069 the receive side, 3030-3034
// delivery.
const (
	ContentScanned      = 1062
	ContentRefused      = 1063
	ContentFailedOpen   = 1064
	ContentFailedClosed = 1065
	ContentRescanned    = 1066
	ContentTrusted      = 1067
	ContentNotScanned   = 1068
	DeliveredToJunk     = 3030
)

func init() {
	for _, d := range []Def{
		{ContentScanned, Information, "smtp_receive", Medium,
			"Message {queue_id} from [{ip}] on virtual server {virtual_server} scanned by rspamd: score {score} ({action}), SCL {scl}.",
			"A message from outside the organization was scanned before its 250. Its SCL is stored with the envelope, travels in XEXCH50 to the organization's servers and is added as a header where it is delivered.",
			"None needed."},
		{ContentRefused, Information, "smtp_receive", Minimum,
			"Message from {from} on virtual server {virtual_server} from [{ip}] refused with 550 5.7.1: rspamd scored it {score} ({action}), SCL {scl} is at or above the gateway threshold {threshold}. Symbols: {symbols}.",
			"The message's SCL reached content_filter.gateway_threshold. It was refused before its 250, so nothing was stored and the sender's server, not this one, tells the sender.",
			"None, for spam. For a legitimate message, look at the symbols; raise gateway_threshold or the scl_scores, or change the rule's score in rspamd."},
		{ContentFailedOpen, Warning, "smtp_receive", Minimum,
			"Message {queue_id} from [{ip}] on virtual server {virtual_server} accepted without a scan ({error}, after {elapsed}); its SCL is unknown.",
			"rspamd did not answer within content_filter.timeout, refused the connection or gave no verdict, and content_filter.on_failure is accept. The message is stored and delivered as a message without an SCL: no header, never to Junk, not refused.",
			"Check that rspamd runs and answers on content_filter.rspamd_url (curl URL/ping; a real check: rspamc). Set on_failure = \"tempfail\" to defer messages while it is down."},
		{ContentFailedClosed, Warning, "smtp_receive", Minimum,
			"Message {queue_id} from [{ip}] on virtual server {virtual_server} deferred with 451 4.7.1: the scan failed ({error}, after {elapsed}).",
			"rspamd did not answer within content_filter.timeout, refused the connection or gave no verdict, and content_filter.on_failure is tempfail. Nothing was stored; the client keeps the message and retries.",
			"Check that rspamd runs and answers on content_filter.rspamd_url. Set on_failure = \"accept\" to accept messages unscanned (event 1064) while it is down."},
		{ContentRescanned, Warning, "smtp_receive", Minimum,
			"Message {queue_id} from [{ip}] (EHLO {helo}) on virtual server {virtual_server} is scanned again: the sender's XEXCH50 was refused, so the SCL it computed is lost.",
			"KB843106: the sending server could not authenticate as a server of the organization (see event 1713), so its organization properties, the SCL among them, were not passed. The message is treated as mail from outside and scanned once more.",
			"Fix the trust between the servers as event 1713 says (the sending server's FQDN, its X-EXPS credentials); then the SCL travels and the message is scanned once."},
		{ContentTrusted, Information, "smtp_receive", Maximum,
			"Message {queue_id} from organization server {server} is not scanned: SCL {scl} from {source}.",
			"Organization mail is not scanned again: it keeps the SCL its first server computed and passed in XEXCH50, or -1 (organization mail) when none was passed.",
			"None needed."},
		{ContentNotScanned, Information, "smtp_receive", Medium,
			"Message {queue_id} from [{ip}] on virtual server {virtual_server} is not scanned: {size} octets is more than content_filter.max_size ({max}); its SCL is unknown.",
			"Messages larger than content_filter.max_size are not sent to rspamd; they are stored without an SCL.",
			"None needed; raise max_size to scan larger messages (each scan holds the message in memory)."},
		{DeliveredToJunk, Information, "delivery", Minimum, // message tracking shows it (docs/tracking.md)
			"Message {queue_id} delivered to the Junk folder of {rcpt}: SCL {scl} is at or above the store threshold {threshold}.",
			"The message's SCL, computed here or by the organization's first server, reached content_filter.store_threshold. It was delivered into the mailbox's .Junk folder (Maildir++).",
			"None, for spam. If legitimate mail lands in Junk, raise store_threshold or the scl_scores."},
	} {
		Catalogue[d.ID] = d
	}
	// One each per accepted message (bounded by the mail accepted, as
	// 2000 is), and what a message is traced by: never held back.
	for _, id := range []int{ContentScanned, ContentFailedOpen, ContentTrusted, ContentNotScanned, DeliveredToJunk} {
		notRateLimited[id] = true
	}
}
