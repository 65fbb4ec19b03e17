package certs

import "crypto/tls"

// Take makes h serve n's certificate, and read n's files at the next
// Reload: a reload that names other certificate files ([tls] cert_file,
// key_file) loads them into a new Holder first, so that a bad file
// changes nothing, then hands them to the Holder the listeners use.
// Handshakes from then on get the new certificate; TLS sessions already
// set up keep theirs.
func (h *Holder) Take(n *Holder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.certFile, h.keyFile = n.certFile, n.keyFile
	h.cert.Store(n.cert.Load())
}

// Fixed is a server TLS configuration that presents the certificate
// loaded last, and keeps presenting it after a Reload or Take: what a
// session that connected before a reload keeps to its end, as it keeps
// its virtual server's other settings (docs/configuration.md,
// "Reloading").
func (h *Holder) Fixed() *tls.Config {
	cert := h.cert.Load()
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }}
}
