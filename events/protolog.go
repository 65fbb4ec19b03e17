package events

// The protocol log's event (docs/protocol-log.md).
const ProtocolLogFailed = 1016

func init() {
	for _, d := range []Def{
		{ProtocolLogFailed, Error, "service", Minimum,
			"Protocol log {file} cannot be written: {error}. Its lines are lost until it can; sessions are not affected.",
			"A write to the protocol log, or its rotation (a new file), failed: the file system is full, or the directory or file was removed or made unwritable. The protocol log is a diagnostic aid, so mail flows on without it. This event is written once when the failures start, and again only if the log fails anew after a line was written.",
			"Free space on the file system of [protocol_log] directory, or restore the directory with write access for the server's user (docs/service.md); the log resumes by itself. Turn protocol_log off if it is not needed."},
	} {
		Catalogue[d.ID] = d
	}
}
