package webadmin

import (
	"cmp"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mailward/diag"
	"mailward/directory"
	"mailward/events"
)

// The Organization page: the servers of the organization as the
// directory has them, their SPNs checked as diag spn checks them, and
// diag auth against one of them.

type orgServer struct {
	diag.ServerSPNs
	Addresses []string
	Auth      string
	Address   string // where diag auth connects
	Problems  int
}

type orgData struct {
	InOrg   bool
	Name    string
	Error   string
	Servers []orgServer
	// Checked is the server diag auth ran against, with its steps.
	Checked   string
	CheckedAt string
	Rcpt      string // the recipient the check used ("": postmaster)
	Steps     []diag.AuthStep
	Passed    bool
}

// diagAuthTimeout bounds one reply of the check run from the page.
const diagAuthTimeout = 15 * time.Second

// peerAddress is where the servers of the organization deliver to a
// server: its delivery_address, else its FQDN on delivery.remote_port.
func (s *Server) peerAddress(srv directory.OrgServer) string {
	if srv.DeliveryAddress != "" {
		return srv.DeliveryAddress
	}
	return net.JoinHostPort(srv.FQDN, strconv.Itoa(cmp.Or(s.o.RemotePort, 25)))
}

func (s *Server) orgData() (orgData, *directory.Org) {
	if s.o.Org == nil {
		return orgData{}, nil
	}
	d := orgData{InOrg: true}
	org, holders, err := s.o.Org()
	if err != nil {
		d.Error = err.Error()
		return d, nil
	}
	d.Name = org.Name
	checked, _ := diag.CheckSPNs(org, holders, "")
	for i, c := range checked {
		srv := org.Servers[i]
		o := orgServer{ServerSPNs: c, Addresses: srv.Addresses, Auth: srv.Auth, Address: s.peerAddress(srv)}
		for _, spn := range c.SPNs {
			if spn.Problem != "" {
				o.Problems++
			}
		}
		d.Servers = append(d.Servers, o)
	}
	return d, org
}

func (s *Server) orgPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d, _ := s.orgData()
	s.render(w, http.StatusOK, "organization", s.pageFor(r, sess, "organization", "Organization", d))
}

// diagAuth runs the check against the chosen server and shows its steps
// on the Organization page.
func (s *Server) diagAuth(w http.ResponseWriter, r *http.Request, sess *session) {
	d, org := s.orgData()
	name := r.PostFormValue("server")
	var srv *directory.OrgServer
	if org != nil {
		for i := range org.Servers {
			if strings.EqualFold(org.Servers[i].Name, name) {
				srv = &org.Servers[i]
			}
		}
	}
	if srv == nil || s.o.DiagAuth == nil {
		s.sessions.setFlash(sess, "diag auth: no server "+printable(name)+" in the organization", true)
		http.Redirect(w, r, "/organization", http.StatusSeeOther)
		return
	}
	addr := s.peerAddress(*srv)
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	d.Checked, d.CheckedAt = srv.Name+" ("+addr+")", time.Now().UTC().Format("2006-01-02 15:04:05 UTC")
	rcpt := strings.TrimSpace(r.PostFormValue("rcpt"))
	if strings.ContainsAny(rcpt, "<>\r\n ") || len(rcpt) > 254 {
		s.sessions.setFlash(sess, "diag auth: the recipient is an address, e.g. bob@example.test", true)
		http.Redirect(w, r, "/organization", http.StatusSeeOther)
		return
	}
	d.Rcpt = rcpt
	d.Steps = s.o.DiagAuth(ctx, addr, rcpt)
	d.Passed = len(d.Steps) > 0
	result := "every step passed"
	for _, st := range d.Steps {
		if !st.OK {
			d.Passed = false
			result = "failed at " + st.Name + ": " + st.Reply
			break
		}
	}
	s.o.Events.Emit(events.WebAdminDiagAuth, "user", sess.user, "server", srv.Name, "address", addr, "result", result)
	s.render(w, http.StatusOK, "organization", s.pageFor(r, sess, "organization", "Organization", d))
}
