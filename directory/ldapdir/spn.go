package ldapdir

import (
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"mailward/directory"
)

// SPNHolder is one entry that carries servicePrincipalName values.
type SPNHolder struct {
	// DN is the entry's DN; Name its cn (a server's name), or the DN
	// when the entry has no cn.
	DN, Name string
	// Server is true for a mailwardServer entry (one the organization
	// loads); any other entry may carry SPNs too, as any Active
	// Directory account can, and then still collides in Kerberos.
	Server bool
	SPNs   []string
}

// SPNs searches the whole subtree under the base DN for entries with a
// servicePrincipalName, whatever their class, as setspn -L and -X do:
// the organization's snapshot reads only mailward's classes and so
// cannot see an SPN registered on another account, which still breaks
// Kerberos authentication to that name (KB979174).
func (c *Client) SPNs() ([]SPNHolder, error) {
	spn := c.cfg.Attributes.name("servicePrincipalName")
	cn := c.cfg.Attributes.name("cn")
	es, err := c.search("("+ldap.EscapeFilter(spn)+"=*)", []string{"objectClass", cn, spn})
	if err != nil {
		return nil, fmt.Errorf("%w: ldap %s: searching (%s=*): %v", directory.ErrUnavailable, c.cfg.URL, spn, err)
	}
	var out []SPNHolder
	for _, e := range es {
		h := SPNHolder{DN: e.DN, Name: e.GetAttributeValue(cn), Server: hasClass(e, "mailwardServer"), SPNs: e.GetAttributeValues(spn)}
		if h.Name == "" {
			h.Name = e.DN
		}
		out = append(out, h)
	}
	return out, nil
}
