package ldapdir

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"mailward/directory"
)

// Config is how to reach and read the directory ([organization.ldap]).
type Config struct {
	// URL is ldap://host:port (StartTLS when CAFile is set; plain text
	// only to a loopback address) or ldaps://host:port.
	URL string
	// CAFile verifies the server's certificate; CertFile and KeyFile are
	// the client certificate of a SASL EXTERNAL bind.
	CAFile, CertFile, KeyFile string
	// Bind is "simple" (BindDN and Password) or "external".
	Bind, BindDN, Password string
	BaseDN                 string
	Timeout                time.Duration
	PoolSize               int
	Attributes             Attributes
}

// Client is a small pool of bound connections to the directory.
type Client struct {
	cfg  Config
	tls  *tls.Config
	pool chan *ldap.Conn
}

// NewClient checks cfg and returns a client; nothing is dialled yet.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("organization.ldap.url %q: want ldap://host:port or ldaps://host:port", cfg.URL)
	}
	if cfg.BaseDN == "" {
		return nil, fmt.Errorf("organization.ldap.base_dn is required")
	}
	if err := CheckAttributes(cfg.Attributes); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = 5 * time.Second
	}
	if c.cfg.PoolSize <= 0 {
		c.cfg.PoolSize = 4
	}
	c.pool = make(chan *ldap.Conn, c.cfg.PoolSize)
	host := u.Hostname()
	if cfg.CAFile != "" || u.Scheme == "ldaps" || cfg.Bind == "external" {
		c.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("organization.ldap.ca_file: %w", err)
			}
			c.tls.RootCAs = x509.NewCertPool()
			if !c.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("organization.ldap.ca_file %s: no certificate", cfg.CAFile)
			}
		}
		if cfg.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("organization.ldap.cert_file: %w", err)
			}
			c.tls.Certificates = []tls.Certificate{cert}
		}
	} else if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		// A bind password or the directory's contents in clear over a
		// network: refused (RFC 4513 section 3: protect simple binds).
		return nil, fmt.Errorf("organization.ldap.url %s: plain ldap:// only to a loopback address; set ca_file (StartTLS) or use ldaps://", cfg.URL)
	}
	switch cfg.Bind {
	case "simple":
		if cfg.BindDN == "" || cfg.Password == "" {
			return nil, fmt.Errorf("organization.ldap: bind simple needs bind_dn and password_file")
		}
	case "external":
		if cfg.CertFile == "" {
			return nil, fmt.Errorf("organization.ldap: bind external needs cert_file and key_file")
		}
	default:
		return nil, fmt.Errorf("organization.ldap.bind %q: want simple or external", cfg.Bind)
	}
	return c, nil
}

func (c *Client) dial() (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: c.cfg.Timeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if c.tls != nil {
		opts = append(opts, ldap.DialWithTLSConfig(c.tls))
	}
	conn, err := ldap.DialURL(c.cfg.URL, opts...)
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(c.cfg.Timeout)
	if c.tls != nil && strings.HasPrefix(c.cfg.URL, "ldap://") {
		if err := conn.StartTLS(c.tls); err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if c.cfg.Bind == "external" {
		err = conn.ExternalBind()
	} else {
		err = conn.Bind(c.cfg.BindDN, c.cfg.Password)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	return conn, nil
}

// with runs fn on a pooled connection; a connection that failed is
// dropped, not returned to the pool.
func (c *Client) with(fn func(*ldap.Conn) error) error {
	var conn *ldap.Conn
	select {
	case conn = <-c.pool:
	default:
	}
	if conn == nil || conn.IsClosing() {
		var err error
		if conn, err = c.dial(); err != nil {
			return err
		}
	}
	err := fn(conn)
	var le *ldap.Error
	if err != nil && (!errors.As(err, &le) || le.ResultCode >= ldap.ErrorNetwork) {
		conn.Close()
		return err
	}
	select {
	case c.pool <- conn:
	default:
		conn.Close()
	}
	return err
}

// Close closes the pooled connections.
func (c *Client) Close() {
	for {
		select {
		case conn := <-c.pool:
			conn.Close()
		default:
			return
		}
	}
}

// Entries reads every entry of mailward's classes under the base DN
// (paged, so a large directory comes in pieces).
func (c *Client) Entries() ([]*ldap.Entry, error) {
	out, err := c.search(Filter, c.cfg.Attributes.names())
	if err != nil {
		return nil, fmt.Errorf("%w: ldap %s: %v", directory.ErrUnavailable, c.cfg.URL, err)
	}
	return out, nil
}

// search reads the entries under the base DN that filter selects, with
// the attributes attrs, paged.
func (c *Client) search(filter string, attrs []string) ([]*ldap.Entry, error) {
	var out []*ldap.Entry
	err := c.with(func(conn *ldap.Conn) error {
		res, err := conn.SearchWithPaging(ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, int(c.cfg.Timeout/time.Second)+1, false, filter, attrs, nil), 500)
		if err != nil {
			return err
		}
		out = res.Entries
		return nil
	})
	return out, err
}

// Load reads the organization from the directory.
func (c *Client) Load(name string) (*directory.Org, error) {
	es, err := c.Entries()
	if err != nil {
		return nil, err
	}
	return directory.NewOrg(name, Decode(es, c.cfg.Attributes), "")
}

// Apply writes entries: each is added, or, when it exists, its
// attributes are replaced (an attribute without values is removed), so
// importing the same file twice changes nothing. It returns how many
// entries were added and modified.
func (c *Client) Apply(entries []Entry) (added, modified int, err error) {
	err = c.with(func(conn *ldap.Conn) error {
		for _, e := range entries {
			if len(e.Classes) > 0 {
				r := ldap.NewAddRequest(e.DN, nil)
				r.Attribute("objectClass", e.Classes)
				for _, a := range e.Attrs {
					if len(a.Values) > 0 {
						r.Attribute(c.cfg.Attributes.name(a.Name), a.Values)
					}
				}
				err := conn.Add(r)
				if err == nil {
					added++
					continue
				}
				if !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
					return fmt.Errorf("add %s: %w", e.DN, err)
				}
			} else {
				// Settings on an existing entry (the base's journaling
				// address): it needs the auxiliary class first.
				m := ldap.NewModifyRequest(e.DN, nil)
				m.Add("objectClass", []string{"mailwardOrganization"})
				if err := conn.Modify(m); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
					return fmt.Errorf("modify %s: %w", e.DN, err)
				}
			}
			m := ldap.NewModifyRequest(e.DN, nil)
			for _, a := range e.Attrs {
				if a.Name == "cn" || a.Name == "ou" { // the RDN stays
					continue
				}
				m.Replace(c.cfg.Attributes.name(a.Name), a.Values)
			}
			if err := conn.Modify(m); err != nil {
				return fmt.Errorf("modify %s: %w", e.DN, err)
			}
			modified++
		}
		return nil
	})
	return added, modified, err
}
