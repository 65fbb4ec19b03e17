package directory

import (
	"strings"
	"testing"
)

// withFolder is the fixture organization with the shared folder
// support@example.test, replicas on mx1 and mx2.
func withFolder(t *testing.T) OrgFile {
	f := orgRecipients(t)
	f.Folders = []SharedFolder{{Address: "Support@Example.Test", Replicas: []string{"MX1", "mx2"}}}
	return f
}

// A valid folder has no error, and is found by its address, with its
// replicas in order; each server's store address is found as that
// server's store.
func TestFolderLookup(t *testing.T) {
	o := newOrg(t, withFolder(t))
	if errs, _ := o.Validate(); len(errs) != 0 {
		t.Fatalf("valid folder refused: %v", errs)
	}
	e := o.Find("support@example.test")
	if e.Kind != FolderEntry || e.Address() != "support@example.test" || strings.Join(e.Folder.Replicas, ",") != "mx1,mx2" {
		t.Fatalf("Find(support) = %+v", e)
	}
	if a := o.StoreAddress("mx2"); a != "mx2-store@example.test" {
		t.Fatalf("StoreAddress(mx2) = %q", a)
	}
	if e := recipientsOf(o, "mx1"); !mustFind(t, e, "MX2-store@example.test", StoreEntry) {
		t.Fatal("mx2's store address is not its store")
	}
	// Without folders there is no store to accept mail for.
	if e := newOrg(t, orgRecipients(t)).Find("mx2-store@example.test"); e.Kind != NotFound {
		t.Fatalf("store address found without any folder: %+v", e)
	}
}

func mustFind(t *testing.T, r *Recipients, addr string, kind EntryKind) bool {
	e, err := r.Find(addr)
	return err == nil && e.Kind == kind && (kind != StoreEntry || e.Store.Name == "mx2")
}

// Each broken folder is reported with what is wrong.
func TestValidateFolders(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *OrgFile)
		want   string
	}{
		{"unknown replica server", func(f *OrgFile) { f.Folders[0].Replicas = append(f.Folders[0].Replicas, "mx9") },
			`shared folder "support@example.test": replica "mx9" is not a server of the organization`},
		{"no replica", func(f *OrgFile) { f.Folders[0].Replicas = nil },
			`shared folder "support@example.test": no replicas (list the servers that hold it)`},
		{"replica twice", func(f *OrgFile) { f.Folders[0].Replicas = []string{"mx1", "MX1"} },
			`shared folder "support@example.test": replica "mx1" listed twice`},
		{"address of a mailbox", func(f *OrgFile) { f.Folders[0].Address = "bob@example.test" },
			`address "bob@example.test" belongs to mailbox "bob@example.test" and to shared folder "bob@example.test"`},
		{"address of a proxy", func(f *OrgFile) { f.Folders[0].Address = "a.smith@example.test" },
			`address "a.smith@example.test" belongs to mailbox "alice@example.test" (proxy address) and to shared folder "a.smith@example.test"`},
		{"two folders", func(f *OrgFile) {
			f.Folders = append(f.Folders, SharedFolder{Address: "support@example.test", Replicas: []string{"mx2"}})
		}, `address "support@example.test" belongs to shared folder "support@example.test" and to shared folder "support@example.test"`},
		{"a mailbox takes a store address", func(f *OrgFile) {
			f.Mailboxes = append(f.Mailboxes, OrgMailbox{Address: "mx1-store@example.test", HomeServer: "mx1"})
		}, `address "mx1-store@example.test" belongs to mailbox "mx1-store@example.test" and to the store of server "mx1"`},
		{"outside the organization", func(f *OrgFile) { f.Folders[0].Address = "support@elsewhere.test" },
			`shared folder "support@elsewhere.test": "support@elsewhere.test" is not in a domain of the organization`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := withFolder(t)
			c.change(&f)
			errs, _ := newOrg(t, f).Validate()
			if !containsLine(errs, c.want) {
				t.Fatalf("Validate errors lack\n  %s\ngot:\n  %s", c.want, strings.Join(errs, "\n  "))
			}
		})
	}
}
