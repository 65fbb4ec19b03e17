// Package certs provides the TLS certificate of the virtual servers: the
// configured one, or a self-signed one for the FQDN made on first start
// (so STARTTLS works out of the box; opportunistic TLS between MTAs does
// not verify certificates, RFC 7435).
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Load returns a server TLS configuration. With certFile and keyFile
// empty it uses <dataDir>/tls/{cert,key}.pem, creating them if missing.
func Load(certFile, keyFile, dataDir, fqdn string) (*tls.Config, error) {
	h, err := NewHolder(certFile, keyFile, dataDir, fqdn)
	if err != nil {
		return nil, err
	}
	return h.Config(), nil
}

// Holder serves the current certificate to every handshake; Reload swaps
// in the files' current contents (a renewed certificate, on SIGHUP)
// without a restart and without touching sessions already running.
type Holder struct {
	mu                sync.Mutex // guards the file names (Reload, Take)
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewHolder loads the certificate as Load does.
func NewHolder(certFile, keyFile, dataDir, fqdn string) (*Holder, error) {
	if certFile == "" {
		certFile = filepath.Join(dataDir, "tls", "cert.pem")
		keyFile = filepath.Join(dataDir, "tls", "key.pem")
		if _, err := os.Stat(certFile); os.IsNotExist(err) {
			if err := SelfSigned(certFile, keyFile, fqdn); err != nil {
				return nil, err
			}
		}
	}
	h := &Holder{certFile: certFile, keyFile: keyFile}
	return h, h.Reload()
}

// Reload reads the certificate and key files again; on error the one in
// use stays.
func (h *Holder) Reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("certs: load %s: %w", h.certFile, err)
	}
	h.cert.Store(&cert)
	return nil
}

// Config is a server TLS configuration that always presents the
// certificate loaded last.
func (h *Holder) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cert.Load(), nil }}
}

// SelfSigned writes a new ECDSA P-256 certificate for fqdn, valid ten years.
func SelfSigned(certFile, keyFile, fqdn string) error {
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	der, key, err := newSelfSigned(fqdn)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// NewSelfSigned makes the certificate SelfSigned writes, in memory: the
// certificate with its key, ready for a tls.Config, and a pool holding
// it, for a client that must verify the name (a self-signed certificate
// is its own root). Nothing is written to disk.
func NewSelfSigned(fqdn string) (tls.Certificate, *x509.CertPool, error) {
	der, key, err := newSelfSigned(fqdn)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// newSelfSigned makes an ECDSA P-256 key and a certificate for fqdn
// signed with it (DER), for serving TLS, valid ten years.
func newSelfSigned(fqdn string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: fqdn, Organization: []string{"mailward self-signed"}},
		DNSNames:     []string{fqdn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: create: %w", err)
	}
	return der, key, nil
}
