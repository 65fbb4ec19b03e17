package setup

import (
	"crypto/tls"
	"fmt"

	"mailward/config"
)

// WebAdminTLS is the web administration's TLS configuration from
// web_admin.tls_cert and tls_key; nil without them. Build loads it
// (Stages.WebAdminTLS), so that `config check` finds a bad certificate.
func WebAdminTLS(cfg *config.Config) (*tls.Config, error) {
	w := cfg.WebAdmin
	if !w.TLS() {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("web_admin.tls_cert/tls_key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
