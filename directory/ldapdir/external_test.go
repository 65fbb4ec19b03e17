package ldapdir_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/internal/certs"
	"mailward/internal/testkit"
)

// TestExternalBind: bind = "external" against a real slapd. The directory
// is readable only by the identity "cn=mailward" (an olcAccess rule), which
// only the client certificate gives (SASL EXTERNAL over StartTLS, RFC 4513
// section 5.2.3): the certificate's bind reads the organization; an
// anonymous simple bind reads nothing; a certificate of another CA is
// refused in the handshake, an outage (451/454), never an anonymous read.
func TestExternalBind(t *testing.T) {
	dir := t.TempDir()
	srvCert, srvKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if err := certs.SelfSigned(srvCert, srvKey, "localhost"); err != nil {
		t.Fatal(err)
	}
	caFile, clientCert, clientKey := clientCA(t, dir, "ca", "mailward")
	_, otherCert, otherKey := clientCA(t, dir, "other", "mailward")
	s := testkit.StartSlapd(t, testkit.SlapdOptions{Suffix: base, TLSCert: srvCert, TLSKey: srvKey, TLSClientCA: caFile,
		DatabaseConfig: "olcAccess: to * by dn.exact=\"cn=mailward\" read by * none"})
	root, err := ldapdir.NewClient(ldapdir.Config{URL: s.URL, Bind: "simple", BindDN: s.RootDN, Password: s.RootPW, BaseDN: base})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, _, err := root.Apply(ldapdir.Encode(file(), base)); err != nil {
		t.Fatal(err)
	}

	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	ext := ldapdir.Config{URL: url, CAFile: srvCert, Bind: "external", CertFile: clientCert, KeyFile: clientKey, BaseDN: base}
	c, err := ldapdir.NewClient(ext)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	org, err := c.Load("o")
	if err != nil {
		t.Fatalf("EXTERNAL bind with the client certificate: %v", err)
	}
	if e := org.Find("ann@example.org"); e.Kind != directory.MailboxEntry {
		t.Fatalf("EXTERNAL bind read no mailbox: %+v", e)
	}

	// Without the certificate (anonymous), the same search finds nothing.
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"dn"}, nil))
	if err == nil && len(res.Entries) > 0 {
		t.Fatalf("an anonymous search read %d entries: the access rule does not hold, so this test proves nothing", len(res.Entries))
	}

	ext.CertFile, ext.KeyFile = otherCert, otherKey
	bad, err := ldapdir.NewClient(ext)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Load("o"); err == nil || !strings.Contains(err.Error(), directory.ErrUnavailable.Error()) {
		t.Fatalf("a client certificate of another CA: %v, want unavailable", err)
	}
}

// clientCA writes a CA and a client certificate it signs, with subject
// CN=cn, and returns the files: the CA's certificate, the client's
// certificate and key.
func clientCA(t *testing.T, dir, name, cn string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, name+"-ca.pem"), filepath.Join(dir, name+"-client.pem"), filepath.Join(dir, name+"-client.key")
	for f, b := range map[string][]byte{
		caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
