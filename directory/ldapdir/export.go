package ldapdir

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"

	"mailward/directory"
)

// File is the organization's entries as organization.file holds them
// (empty lists as none); it loads back as the same organization. The
// default servers group, when Normalize added it, is written out as a
// group like the others: the same rights.
func File(o *directory.Org) directory.OrgFile {
	nz := func(v []string) []string {
		if len(v) == 0 {
			return nil
		}
		return append([]string(nil), v...)
	}
	f := directory.OrgFile{Domains: o.Domains, Permissions: o.Permissions, Groups: o.Groups}
	for _, s := range o.Servers {
		s.Addresses, s.SPNs = nz(s.Addresses), nz(s.SPNs)
		f.Servers = append(f.Servers, s)
	}
	for _, m := range o.Mailboxes {
		m.ProxyAddresses = nz(m.ProxyAddresses)
		f.Mailboxes = append(f.Mailboxes, m)
	}
	for _, g := range o.DistGroups {
		g.Members, g.AcceptFrom, g.RejectFrom = nz(g.Members), nz(g.AcceptFrom), nz(g.RejectFrom)
		f.DistGroups = append(f.DistGroups, g)
	}
	for _, r := range o.JournalRules {
		r.Mailboxes = nz(r.Mailboxes)
		f.JournalRules = append(f.JournalRules, r)
	}
	for _, fo := range o.Folders {
		fo.Replicas = nz(fo.Replicas)
		f.Folders = append(f.Folders, fo)
	}
	if o.Journaling.Address != "" {
		j := o.Journaling
		f.Journaling = &j
	}
	return f
}

// TOML writes the organization as an organization.file.
func TOML(o *directory.Org) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# The organization directory, exported by mailward directory export (docs/directory.md).\n")
	enc := toml.NewEncoder(&b)
	if err := enc.Encode(File(o)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// LDIF writes entries as LDIF (RFC 2849) with the site's attribute
// names: a record to add for each entry with classes, a modify for the
// settings on the base entry.
func LDIF(entries []Entry, a Attributes) []byte {
	var b bytes.Buffer
	b.WriteString("version: 1\n\n")
	line := func(name, v string) {
		// RFC 2849 section 2: a value that is not safe as it is goes in base64.
		if v == "" || !utf8.ValidString(v) || strings.ContainsAny(v, "\n\r\x00") || strings.HasPrefix(v, " ") ||
			strings.HasPrefix(v, ":") || strings.HasPrefix(v, "<") || strings.HasSuffix(v, " ") {
			if v == "" {
				fmt.Fprintf(&b, "%s:\n", name)
				return
			}
			fmt.Fprintf(&b, "%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(v)))
			return
		}
		fmt.Fprintf(&b, "%s: %s\n", name, v)
	}
	for _, e := range entries {
		line("dn", e.DN)
		if len(e.Classes) == 0 {
			b.WriteString("changetype: modify\nadd: objectClass\nobjectClass: mailwardOrganization\n-\n")
			for _, at := range e.Attrs {
				fmt.Fprintf(&b, "replace: %s\n", a.name(at.Name))
				for _, v := range at.Values {
					line(a.name(at.Name), v)
				}
				b.WriteString("-\n")
			}
			b.WriteString("\n")
			continue
		}
		for _, c := range e.Classes {
			line("objectClass", c)
		}
		for _, at := range e.Attrs {
			for _, v := range at.Values {
				line(a.name(at.Name), v)
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}
