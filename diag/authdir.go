package diag

import (
	"fmt"
	"strings"
)

// What the directories say about a failed organization path. Exchange
// administrators meet KB979174's "454 4.7.0 Temporary authentication
// failure" most often when one server's domain controller does not know
// the other server yet (replication) or cannot be reached; the
// diagnostics name that cause when they can tell, instead of the list
// of everything it might be.

// DirectoryView is what diag auth learnt from the directories before
// and besides the SMTP conversation.
type DirectoryView struct {
	// PeerMissingHere is the peer's name when another source (the
	// peer's own configuration, reading another replica) knows it but
	// this server's directory does not.
	PeerMissingHere string
	// SelfMissingThere is this server's name when the peer's directory
	// does not know it but this server's does.
	SelfMissingThere string
	// PeerDirErr is the error reading the peer's directory, when it is
	// unavailable.
	PeerDirErr error
}

// DirectoryUnavailableStep is the one step of a check that cannot start:
// this server's own directory did not answer, so it cannot tell which
// servers are the organization's, nor how to authenticate to them.
func DirectoryUnavailableStep(err error) AuthStep {
	return AuthStep{Name: "this server's directory", Reply: err.Error(), OK: false,
		Advice: "the directory is unavailable: " + strings.TrimSpace(rootCause(err)) +
			"; until it answers, organization authentication that needs it gets 454 4.7.0 (KB979174) and RCPT to the organization 451 4.3.0"}
}

// rootCause is the innermost message of err's chain as written (the
// part after the last ": "), the words an administrator acts on.
func rootCause(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// ExplainDirectory replaces the advice of the failing step with the
// directory cause when v shows one. Only X-EXPS steps can fail for it:
// a refused connection or TLS is not the directory's doing.
func ExplainDirectory(steps []AuthStep, v DirectoryView) []AuthStep {
	for i := range steps {
		s := &steps[i]
		if s.OK || !strings.HasPrefix(s.Name, "X-EXPS") {
			continue
		}
		switch {
		case v.PeerMissingHere != "":
			s.Advice = fmt.Sprintf("server %s is not in this server's directory yet: replication lag? (KB979174) Another replica knows it; wait for replication, or check it", v.PeerMissingHere)
		case v.SelfMissingThere != "":
			s.Advice = fmt.Sprintf("server %s is not in the peer's directory yet: replication lag? (KB979174) This server's replica knows it; until the peer's replica does, it answers 454 4.7.0 and the mail waits here (with org_auth_offer = \"servers\" it does not offer X-EXPS)", v.SelfMissingThere)
		case v.PeerDirErr != nil:
			s.Advice = "the peer's directory is unavailable: " + strings.TrimSpace(rootCause(v.PeerDirErr)) +
				"; the peer answers 454 4.7.0 (KB979174) until it answers again"
		}
	}
	return steps
}
