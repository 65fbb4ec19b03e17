package certs

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
