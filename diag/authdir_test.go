package diag

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"mailward/directory"
)

// The directory's causes replace the generic advice of the failing
// X-EXPS step, and only of an X-EXPS step; the report's exact text.
func TestExplainDirectory(t *testing.T) {
	refused := func() []AuthStep {
		return []AuthStep{{Name: "connect and greeting", Reply: "220 mx1", OK: true},
			{Name: "X-EXPS LOGIN", Reply: "454 4.7.0 Temporary authentication failure.", Advice: "generic"}}
	}
	down := fmt.Errorf("organization directory: %w: ldap ldap://127.0.0.1:3389: dial tcp 127.0.0.1:3389: connect: connection refused", directory.ErrUnavailable)
	for _, c := range []struct {
		view DirectoryView
		want string
	}{
		{DirectoryView{SelfMissingThere: "mx3"}, "server mx3 is not in the peer's directory yet: replication lag? (KB979174) This server's replica knows it; until the peer's replica does, it answers 454 4.7.0 and the mail waits here (with org_auth_offer = \"servers\" it does not offer X-EXPS)"},
		{DirectoryView{PeerMissingHere: "mx2"}, "server mx2 is not in this server's directory yet: replication lag? (KB979174) Another replica knows it; wait for replication, or check it"},
		{DirectoryView{PeerDirErr: down}, "the peer's directory is unavailable: connection refused; the peer answers 454 4.7.0 (KB979174) until it answers again"},
		{DirectoryView{}, "generic"},
	} {
		var b strings.Builder
		if WriteAuthReport(&b, ExplainDirectory(refused(), c.view)) {
			t.Fatal("a failed step reported as a working path")
		}
		want := "ok   connect and greeting         220 mx1\n" +
			"FAIL X-EXPS LOGIN                 454 4.7.0 Temporary authentication failure.\n" +
			"     likely cause: " + c.want + "\n"
		if b.String() != want {
			t.Errorf("%+v:\n%s\nwant:\n%s", c.view, b.String(), want)
		}
	}
	// A connection failure is not the directory's doing.
	steps := ExplainDirectory([]AuthStep{{Name: "connect", Reply: "refused", Advice: "down"}}, DirectoryView{PeerMissingHere: "mx2"})
	if steps[0].Advice != "down" {
		t.Errorf("connect step advice rewritten: %q", steps[0].Advice)
	}
	s := DirectoryUnavailableStep(down)
	if s.OK || !errors.Is(down, directory.ErrUnavailable) ||
		s.Advice != "the directory is unavailable: connection refused; until it answers, organization authentication that needs it gets 454 4.7.0 (KB979174) and RCPT to the organization 451 4.3.0" {
		t.Errorf("DirectoryUnavailableStep: %+v", s)
	}
}
