package events

// The events of shared folders (docs/shared-folders.md): 3020-3029 the
// categorizer, 1040-1049 the receive side, 7020-7029 the send side.
const (
	FolderReplicated       = 3020
	ReplicaStored          = 3021
	NearestReplica         = 3022
	ReplicationInvalid     = 3023
	ReplicaFailover        = 3024
	ReplicationRcptRefused = 1040
	ReplicationDataRefused = 1041
	ReplicationHeld        = 7020
)

func init() {
	for _, d := range []Def{
		{FolderReplicated, Information, "categorizer", Medium,
			"Message {queue_id} to shared folder {folder}: stored in the replica here and replicated to {replicas}.",
			"A message was posted to a shared folder that has a replica on this server. It is stored here and one replica recipient per other replica server is queued (recorded before any delivery), each sent as organization mail with its replication ID in the XEXCH50 properties.",
			"None needed. 'mailward folder status' shows the replication backlog."},
		{ReplicaStored, Information, "categorizer", Medium,
			"Message {queue_id}: replica of shared folder {folder} stored here as {name} (replication from {origin}).",
			"An organization server replicated a message of a shared folder to this server's store. It is stored under the name its replication ID gives, the same on every replica, so a replication received twice is one copy. It is not expanded, journaled, forwarded or filtered again.",
			"None needed."},
		{NearestReplica, Information, "categorizer", Medium,
			"Message {queue_id} to shared folder {folder}: no replica on this server; sent to the nearest replica, on {server}.",
			"The folder has no replica on this server. The first server of its replicas list is the nearest; it stores the message and replicates it to the others.",
			"None needed. Reorder the folder's replicas to change which server is the nearest."},
		{ReplicationInvalid, Error, "categorizer", Minimum,
			"Message {queue_id}: replication to {rcpt} not stored: {reason}.",
			"A message for this server's store address reached the queue without valid replication properties, or for a folder this server holds no replica of (the directories of the servers differ).",
			"Compare the organization directories of the servers (the folder's replicas), and check that XEXCH50 works between them ('mailward diag auth')."},
		{ReplicaFailover, Warning, "categorizer", Minimum,
			"Message {queue_id} to shared folder {folder}: the nearest replica, on {nearest}, is failing ({error}); sent to the replica on {server} instead.",
			"The folder has no replica on this server, and the delivery queue of its nearest replica (the first of its replicas) is failing or suspended. The post goes to the next replica whose queue works. It keeps its replication ID, so a post that reached the first one too is still one copy in every replica.",
			"Find out why the nearest replica's server does not take mail ('mailward queue list', 'mailward diag auth')."},
		{ReplicationRcptRefused, Warning, "smtp_receive", Minimum,
			"RCPT to store address {rcpt} refused on virtual server {virtual_server} for {helo} [{ip}]: replication is accepted only from authenticated servers of the organization holding send-as.",
			"A client that did not authenticate with X-EXPS as a server of the organization holding send-as addressed a server's store address, where only shared folders' replication goes. It gets 550 5.7.1 and nothing is stored.",
			"If the client is a server of the organization, check its trust ('mailward diag auth' from it); otherwise none needed."},
		{ReplicationDataRefused, Warning, "smtp_receive", Minimum,
			"Replication to {rcpt} from {helo} [{ip}] refused at the end of DATA: {reason}. Nothing was stored.",
			"A replication message arrived without valid replication properties (XEXCH50 refused or not sent): without its replication ID it could not be stored exactly once.",
			"Check that XEXCH50 works between the servers ('mailward diag auth'); mailward itself never sends a replication without its properties."},
		{ReplicationHeld, Error, "smtp_send", Minimum,
			"Replication of message {queue_id} (shared folder {folder}) to {remote} held: {reason}. It is not sent without its properties; it is retried on the queue's schedule.",
			"The replica server could not be given the replication's XEXCH50 properties: it did not offer XEXCH50, or refused it (504 Need to authenticate first: it does not trust this server, KB843106). A replication without its properties could not be stored exactly once, so it waits.",
			"Fix the trust between the servers ('mailward diag auth <replica server>'); the replication is retried, and 'mailward folder status' shows the backlog with its last error."},
	} {
		Catalogue[d.ID] = d
	}
}
