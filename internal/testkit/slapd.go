package testkit

// A real LDAP server for the directory's tests: Debian's slapd (OpenLDAP),
// started from a cn=config the test writes (slapadd -n0 into a temporary
// slapd.d), with an mdb database in a temporary directory, on a loopback
// port, as the current user. Later: a provider and a consumer with
// syncrepl (SlapdOptions.ExtraConfig takes the overlay and syncrepl
// entries).

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// SlapdPackage is the Debian package of slapd and slapadd.
const SlapdPackage = "slapd"

// RequireSlapd returns the paths of slapd and slapadd (in /usr/sbin), or
// skips or fails the test as a missing component does.
func RequireSlapd(t testing.TB) (slapd, slapadd string) {
	t.Helper()
	p := Require(t, SlapdPackage, "slapd", "slapadd")
	return p[0], p[1]
}

// SlapdOptions configure StartSlapd. Every field has a default.
type SlapdOptions struct {
	// Suffix is the database's naming context (default "dc=example,dc=org");
	// its base entry is created (dcObject, organization, mailwardOrganization).
	Suffix string
	// RootPW is the root DN's password (default "secret"); the root DN is
	// "cn=admin,<Suffix>".
	RootPW string
	// ExtraConfig is more cn=config LDIF, appended after the database
	// (overlays, syncrepl, more databases); {dir} is replaced by the
	// instance's directory.
	ExtraConfig string
	// Data is LDIF loaded into the database before start (slapadd -n1),
	// after the base entry.
	Data string
	// Modules are more modules to load (e.g. "syncprov").
	Modules []string
	// DatabaseConfig is more attribute lines of the mdb database's entry
	// ("olcSyncrepl: ...", "olcDbIndex: entryCSN eq").
	DatabaseConfig string
	// TLSCert and TLSKey are PEM files of the server's certificate: with
	// them slapd offers StartTLS.
	TLSCert, TLSKey string
	// TLSClientCA is a PEM file of the CA whose client certificates slapd
	// verifies (olcTLSVerifyClient: try), for SASL EXTERNAL binds: the
	// certificate's subject DN is the bound identity.
	TLSClientCA string
	// Monitor adds the cn=Monitor database (slapd's own counters, read
	// by Searches).
	Monitor bool
	// NoBaseEntry starts with an empty database (a syncrepl consumer gets
	// every entry, the base one included, from its provider).
	NoBaseEntry bool
}

// Slapd is one running slapd.
type Slapd struct {
	// URL is "ldap://127.0.0.1:port".
	URL string
	// Suffix, RootDN and RootPW are the database's.
	Suffix, RootDN, RootPW string
	// Dir holds slapd.d, the database and the logs.
	Dir string

	bin  string
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// StartSlapd starts slapd with a new cn=config and database and returns
// once it answers a search of its suffix. It is stopped when the test
// ends. One start costs about a tenth of a second: a test that wants a
// directory of its own starts its own.
func StartSlapd(t testing.TB, opt SlapdOptions) *Slapd {
	t.Helper()
	bin, slapadd := RequireSlapd(t)
	if opt.Suffix == "" {
		opt.Suffix = "dc=example,dc=org"
	}
	if opt.RootPW == "" {
		opt.RootPW = "secret"
	}
	s := &Slapd{Suffix: opt.Suffix, RootDN: "cn=admin," + opt.Suffix, RootPW: opt.RootPW, Dir: t.TempDir(), bin: bin}
	for _, d := range []string{"slapd.d", "db"} {
		if err := os.Mkdir(filepath.Join(s.Dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := SchemaFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(slapdConfig(s, schema, opt)+opt.ExtraConfig, "{dir}", s.Dir)
	if err := slapAdd(slapadd, "-n0", "-F", filepath.Join(s.Dir, "slapd.d"), cfg); err != nil {
		t.Fatalf("slapadd cn=config: %v", err)
	}
	if data := baseEntry(opt.Suffix) + opt.Data; !opt.NoBaseEntry || opt.Data != "" {
		if opt.NoBaseEntry {
			data = opt.Data
		}
		if err := slapAdd(slapadd, "-n1", "-F", filepath.Join(s.Dir, "slapd.d"), data); err != nil {
			t.Fatalf("slapadd data: %v", err)
		}
	}
	for range 5 { // the free port may be taken before slapd binds it
		if err = s.start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("slapd did not start: %v", err)
	return nil
}

// SchemaFile is the path of mailward's LDAP schema in the source tree
// (directory/ldapdir/schema/mailward.ldif): testkit imports no mailward
// package, so it finds the file from its own source's place.
func SchemaFile() (string, error) {
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testkit: cannot tell where its source is")
	}
	p := filepath.Join(filepath.Dir(here), "..", "..", "directory", "ldapdir", "schema", "mailward.ldif")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testkit: mailward's LDAP schema: %w", err)
	}
	return p, nil
}

func slapdConfig(s *Slapd, schema string, opt SlapdOptions) string {
	var modules string
	for _, m := range opt.Modules {
		modules += "olcModuleLoad: " + m + "\n"
	}
	var tlsConf string
	if opt.TLSCert != "" {
		tlsConf = "olcTLSCertificateFile: " + opt.TLSCert + "\nolcTLSCertificateKeyFile: " + opt.TLSKey + "\n"
	}
	if opt.TLSClientCA != "" {
		tlsConf += "olcTLSCACertificateFile: " + opt.TLSClientCA + "\nolcTLSVerifyClient: try\n"
	}
	db := strings.TrimSpace(opt.DatabaseConfig)
	if db != "" {
		db += "\n"
	}
	if opt.Monitor {
		// Statically built into Debian's slapd (slapd -VVV); the root DN
		// of the data reads it.
		db += fmt.Sprintf("\ndn: olcDatabase={2}monitor,cn=config\nobjectClass: olcDatabaseConfig\nolcDatabase: {2}monitor\n"+
			"olcAccess: to * by dn.exact=\"%s\" read by * none\n", s.RootDN)
	}
	return fmt.Sprintf(`dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
%s
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
%s
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file://%s

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=config
olcRootPW: %s

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: {dir}/db
olcSuffix: %s
olcRootDN: %s
olcRootPW: %s
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: mail eq
olcDbIndex: proxyAddresses eq
olcLimits: dn.exact="%s" size=unlimited
%s
`, tlsConf, modules, schema, s.RootPW, s.Suffix, s.RootDN, s.RootPW, s.RootDN, db)
}

func baseEntry(suffix string) string {
	rdn, _, _ := strings.Cut(suffix, ",")
	_, dc, _ := strings.Cut(rdn, "=")
	return fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\nobjectClass: mailwardOrganization\ndc: %s\no: %s\n\n", suffix, dc, dc)
}

func slapAdd(bin string, args ...string) error {
	ldif := args[len(args)-1]
	cmd := exec.Command(bin, append(args[:len(args)-1], "-q")...)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func (s *Slapd) start() error {
	addr, err := freeTCPAddr()
	if err != nil {
		return err
	}
	s.URL = "ldap://" + addr
	if err := s.run(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("slapd exited: %s", s.out.String())
		default:
		}
		if s.answers() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("slapd did not answer within 10s: %s", s.out.String())
}

// answers makes a real search of the suffix as the root DN.
func (s *Slapd) answers() error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 2, false,
		"(objectClass=*)", []string{"dn"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil // an empty consumer answers: its suffix is not replicated yet
	}
	return err
}

// Conn is a new connection bound as the root DN; the caller closes it.
func (s *Slapd) Conn() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(s.RootDN, s.RootPW); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// MustConn is Conn failing the test on an error.
func (s *Slapd) MustConn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.Conn()
	if err != nil {
		t.Fatalf("slapd %s: %v", s.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Pause stops slapd with SIGSTOP: connections are accepted by the
// kernel and never answered (a hung directory). Resume undoes it.
func (s *Slapd) Pause() { s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused slapd.
func (s *Slapd) Resume() { s.cmd.Process.Signal(syscall.SIGCONT) }

// Stop ends slapd (an outage) and waits for it; Restart starts it again
// on the same port with the same data.
func (s *Slapd) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// run starts the slapd process on s.URL; start and Restart wait for it
// to answer.
func (s *Slapd) run() error {
	s.out = &syncBuffer{}
	// -d 0: stay in the foreground (the test owns the process) and log
	// nothing but errors to stderr.
	s.cmd = exec.Command(s.bin, "-d", "0", "-h", s.URL+"/", "-F", filepath.Join(s.Dir, "slapd.d"))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	return nil
}

// Restart starts a stopped slapd again on the same URL.
func (s *Slapd) Restart(t testing.TB) {
	t.Helper()
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 10*time.Second, "slapd to answer again", func() bool { return s.answers() == nil })
}

// Add adds LDIF-like entries given as DN and attributes (for a test
// that changes the directory while mailward runs).
func (s *Slapd) Add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		r.Attribute(k, v)
	}
	if err := s.MustConn(t).Add(r); err != nil {
		t.Fatalf("ldap add %s: %v", dn, err)
	}
}

// Searches is how many search operations slapd has completed since it
// started, from its cn=Monitor counters (SlapdOptions.Monitor); the
// reading itself is one of them.
func (s *Slapd) Searches(t testing.TB) int {
	t.Helper()
	c := s.MustConn(t)
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest("cn=Search,cn=Operations,cn=Monitor", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"monitorOpCompleted"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("slapd cn=Monitor (SlapdOptions.Monitor set?): %v", err)
	}
	n, err := strconv.Atoi(res.Entries[0].GetAttributeValue("monitorOpCompleted"))
	if err != nil {
		t.Fatalf("monitorOpCompleted: %v", err)
	}
	return n
}
