package diag

import (
	"strings"

	"mailward/directory"
)

// SPN problems, as the SPN report and the web administration's
// Organization page name them.
const (
	SPNDuplicate = "duplicate" // registered on more than one account (or twice)
	SPNMissing   = "missing"   // expected but not registered
)

// ServerSPNs is one server of the organization with its SPNs checked.
type ServerSPNs struct {
	Name, FQDN string
	SPNs       []SPNCheck
}

// SPNCheck is one SPN of a server: registered, a duplicate (with the
// other holders) or missing.
type SPNCheck struct {
	SPN     string
	Problem string   // "", SPNDuplicate or SPNMissing
	Others  []string // the other holders of a duplicate
}

// CheckSPNs checks the SPNs of one server of org (or of all, when
// server is ""): every expected SPN must be registered exactly once in
// the whole directory (holders). The second result is false when no
// server is named server.
func CheckSPNs(org *directory.Org, holders []SPNHolder, server string) ([]ServerSPNs, bool) {
	dups := duplicateSPNs(holders)
	var out []ServerSPNs
	for i := range org.Servers {
		s := &org.Servers[i]
		if server != "" && !strings.EqualFold(server, s.Name) && !strings.EqualFold(server, s.FQDN) {
			continue
		}
		v := ServerSPNs{Name: s.Name, FQDN: s.FQDN}
		have := map[string]bool{}
		for _, h := range holders {
			if !h.Server || !strings.EqualFold(h.Name, s.Name) {
				continue
			}
			for _, spn := range h.SPNs {
				have[strings.ToLower(spn)] = true
				c := SPNCheck{SPN: spn}
				if hs, ok := dups[strings.ToLower(spn)]; ok {
					c.Problem, c.Others = SPNDuplicate, others(hs, h.Name)
				}
				v.SPNs = append(v.SPNs, c)
			}
		}
		for _, spn := range directory.ExpectedSPNs(s) {
			if !have[strings.ToLower(spn)] {
				v.SPNs = append(v.SPNs, SPNCheck{SPN: spn, Problem: SPNMissing})
			}
		}
		out = append(out, v)
	}
	return out, len(out) > 0
}
