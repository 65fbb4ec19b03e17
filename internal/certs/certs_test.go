package certs

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// A client that verifies against the pool from NewSelfSigned completes a
// handshake for the name, and fails for another name.
func TestNewSelfSignedVerifies(t *testing.T) {
	cert, pool, err := NewSelfSigned("mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil || cert.Leaf.DNSNames[0] != "mx.example.test" {
		t.Fatalf("leaf %+v", cert.Leaf)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"mx.example.test", true}, {"other.example.test", false}} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if s, err := ln.Accept(); err == nil {
				s.SetDeadline(time.Now().Add(10 * time.Second))
				tls.Server(s, srvCfg).Handshake()
				s.Close()
			}
		}()
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(&d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: tc.name})
		if err == nil {
			conn.Close()
		}
		<-done
		if (err == nil) != tc.ok {
			t.Errorf("handshake for %s: %v, want success %v", tc.name, err, tc.ok)
		}
	}
}

// SelfSigned's files load as a key pair, and a second call replaces them
// with a new certificate (a renewal).
func TestSelfSignedFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	serial := func() string {
		t.Helper()
		if err := SelfSigned(certFile, keyFile, "mx1.example.test"); err != nil {
			t.Fatal(err)
		}
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return kp.Leaf.SerialNumber.String()
	}
	if a, b := serial(), serial(); a == b {
		t.Errorf("two certificates with serial %s", a)
	}
}
