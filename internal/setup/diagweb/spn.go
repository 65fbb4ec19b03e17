package diagweb

import (
	"mailward/config"
	"mailward/diag"
	"mailward/directory"
	"mailward/internal/setup"
)

// SPNHolders are the accounts diag spn (and the web administration's
// Organization page) check. With the directory in
// LDAP, a search of its own for every entry under base_dn with a
// servicePrincipalName, as setspn -L and -X search AD: an SPN on an
// entry the organization does not load (another class, another
// container) still collides in Kerberos (KB979174). With the file, the
// servers are all there is.
func SPNHolders(cfg *config.Config, org *directory.Org) ([]diag.SPNHolder, error) {
	if cfg.Organization.Directory != config.OrgDirectoryLDAP {
		return diag.OrgSPNs(org), nil
	}
	c, err := setup.LDAPClient(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	found, err := c.SPNs()
	if err != nil {
		return nil, err
	}
	out := make([]diag.SPNHolder, 0, len(found))
	for _, h := range found {
		name := h.DN // setspn -X names accounts by DN
		if h.Server {
			name = h.Name
		}
		out = append(out, diag.SPNHolder{Name: name, Server: h.Server, SPNs: h.SPNs})
	}
	return out, nil
}
