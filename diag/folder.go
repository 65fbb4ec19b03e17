package diag

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"mailward/reply"
	"mailward/smtpclient"
)

// FolderQuery asks one replica server how many messages its replica of
// a shared folder holds: the path of organization mail (connect, EHLO,
// STARTTLS as its route allows, X-EXPS as delivery authenticates), then
// mailward's X-MWFOLDER <address> (docs/shared-folders.md).
type FolderQuery struct {
	Addr     string // the server's "host:port" (its delivery_address)
	HeloName string
	TLS      smtpclient.TLSPolicy
	Timeout  time.Duration
	// Authenticate is deliver.Remote.AuthenticateOrg for the server.
	Authenticate func(ctx context.Context, c *smtpclient.Conn) (mech string, r reply.Reply, err error)
}

// AskFolderCount returns the count, or why the server could not be
// asked, in words an administrator acts on.
func AskFolderCount(ctx context.Context, q FolderQuery, folder string) (int, error) {
	host, _, _ := net.SplitHostPort(q.Addr)
	c, err := smtpclient.Dial(ctx, q.Addr, host, smtpclient.ClientOptions{HeloName: q.HeloName, TLS: q.TLS,
		Timeouts: smtpclient.Timeouts{Connect: q.Timeout, Greeting: q.Timeout, Command: q.Timeout}})
	if err != nil {
		return 0, fmt.Errorf("cannot connect to %s: %v", q.Addr, err)
	}
	defer c.Quit()
	if _, r, err := q.Authenticate(ctx, c); err != nil {
		return 0, fmt.Errorf("X-EXPS failed (%s): %s", replyOr(r, err), authAdvice(err))
	}
	r, err := c.Cmd(ctx, q.Timeout, "X-MWFOLDER %s", folder)
	if err != nil {
		return 0, fmt.Errorf("X-MWFOLDER: %v", err)
	}
	if r.Code != 250 {
		return 0, fmt.Errorf("it answered %s", r.String())
	}
	f := strings.Fields(r.Text())
	if len(f) > 1 && strings.Count(f[0], ".") == 2 {
		f = f[1:] // the enhanced status code, if the reader kept it
	}
	n := -1
	if len(f) > 0 {
		n, err = strconv.Atoi(f[0])
	}
	if n < 0 || err != nil {
		return 0, fmt.Errorf("unreadable answer %s", r.String())
	}
	return n, nil
}
