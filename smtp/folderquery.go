package smtp

import (
	"errors"
	"strings"

	"mailward/reply"
)

// FolderCounter counts the messages of this server's replica of a
// shared folder (mailward folder status asks every replica server).
type FolderCounter interface {
	FolderCount(addr string) (int, error)
}

// ErrNoReplica: this server holds no replica of the folder.
var ErrNoReplica = errors.New("no replica here")

// cmdXMWFOLDER is "X-MWFOLDER <address>": mailward's own query, for
// authenticated servers of the organization only (after X-EXPS), of the
// message count of this server's replica of a shared folder
// (docs/shared-folders.md). It is not advertised in EHLO: only
// mailward's folder status tool uses it.
func (s *session) cmdXMWFOLDER(arg string) reply.Reply {
	addr := strings.ToLower(strings.TrimSpace(arg))
	switch {
	case s.opt.Folders == nil:
		return reply.New(502, "5.5.1", "X-MWFOLDER not available")
	case s.orgPeer == "":
		return reply.New(504, "5.7.4", "X-MWFOLDER is only for authenticated servers of the organization")
	case addr == "" || strings.ContainsAny(addr, " \t"):
		return reply.New(501, "5.5.4", "Syntax: X-MWFOLDER <address>")
	}
	n, err := s.opt.Folders.FolderCount(addr)
	switch {
	case errors.Is(err, ErrNoReplica):
		return reply.New(550, "5.1.1", "no replica of %s on %s", addr, s.l.FQDN)
	case err != nil:
		return reply.New(451, "4.3.0", "cannot count the replica of %s: %v", addr, err)
	}
	return reply.New(250, "2.0.0", "%d message(s) in the replica of %s on %s", n, addr, s.l.FQDN)
}
