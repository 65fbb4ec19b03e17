package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config check builds what serve builds: a configuration that serve
// would refuse at start is refused by the check too (issue 7 A14). It
// used to say OK without reading organization.password_file or the
// keytab.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	const base = `
[server]
fqdn = "mx1.example.test"
data_dir = "data"
[[domain]]
name = "example.test"
[[virtual_server]]
name = "default"
address = "127.0.0.1:2525"
[organization]
self = "mx1"
[[organization.server]]
name = "mx1"
fqdn = "mx1.example.test"
auth = "login"
password_hash = "$2a$10$.OVCvNJWJ/Oq8rRK1B5h1.DZaZXalHwFYqtaiBbingugcFgxnT7oG"
`
	for _, tc := range []struct {
		name, want string
	}{
		{"ok", ""},
		{"password file missing", "organization.password_file"},
		{"keytab unreadable", "organization.keytab"},
		{"certificate missing", "certs: load"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := base
			switch tc.name {
			case "password file missing":
				conf = strings.Replace(conf, `self = "mx1"`, `self = "mx1"`+"\npassword_file = \"nonexistent.secret\"", 1)
			case "keytab unreadable":
				os.WriteFile(filepath.Join(dir, "bad.keytab"), []byte("not a keytab"), 0o600)
				conf = strings.Replace(conf, `self = "mx1"`, `self = "mx1"`+"\nkeytab = \"bad.keytab\"", 1)
			case "certificate missing":
				conf = strings.Replace(conf, "[[domain]]", "[tls]\ncert_file = \"none.pem\"\nkey_file = \"none.key\"\n[[domain]]", 1)
			}
			path := filepath.Join(dir, "mailward.toml")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			err := cmdConfig([]string{"check", "--config", path})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check refused a good configuration: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check: %v; want an error naming %s", err, tc.want)
			}
			// The check creates nothing: no data directory.
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Error("config check created the data directory")
			}
		})
	}
}
