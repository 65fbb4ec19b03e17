package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const webBase = "[server]\nfqdn = \"mx.example.test\"\n[[domain]]\nname = \"example.test\"\n[[virtual_server]]\nname = \"default\"\naddress = \"127.0.0.1:2525\"\n"

const webUser = "[[web_admin.user]]\nname = \"admin\"\npassword_hash = \"$2a$10$pJFeR6qf98yOhYuRk2CfWODOdF9siPHSmjDx4OuuY2iI84JW8eeuG\"\n"

// [web_admin] is off by default, with its defaults; on a loopback
// address it needs users, and anywhere else TLS too.
func TestWebAdmin(t *testing.T) {
	c, err := Parse([]byte(webBase))
	if err != nil || c.WebAdmin.Enabled() {
		t.Fatalf("default: %+v, %v", c.WebAdmin, err)
	}
	if w := c.WebAdmin; w.SessionTimeout.Duration != 8*time.Hour || w.LoginFailures != 5 || w.LoginLockout.Duration != time.Minute {
		t.Errorf("defaults: %+v", w)
	}
	for _, a := range []string{"127.0.0.1:8025", "[::1]:8025", "localhost:8025"} {
		if _, err := Parse([]byte(webBase + "[web_admin]\naddress = \"" + a + "\"\n" + webUser)); err != nil {
			t.Errorf("loopback %s with a user refused: %v", a, err)
		}
	}
	for _, tc := range []struct{ toml, want string }{
		{"[web_admin]\naddress = \"127.0.0.1:8025\"\n", "has no [[web_admin.user]]"},
		{"[web_admin]\naddress = \"0.0.0.0:8025\"\n" + webUser, "is not a loopback address: set web_admin.tls_cert"},
		{"[web_admin]\naddress = \":8025\"\n" + webUser, "is not a loopback address"},
		{"[web_admin]\naddress = \"192.0.2.1:8025\"\ntls_cert = \"c.pem\"\n" + webUser, "tls_cert and web_admin.tls_key go together"},
		{"[web_admin]\naddress = \"8025\"\n" + webUser, "want host:port"},
		{"[web_admin]\naddress = \"127.0.0.1:8025\"\n[[web_admin.user]]\nname = \"admin\"\npassword_hash = \"admin-secret\"\n", "must be a bcrypt hash"},
		{"[web_admin]\naddress = \"127.0.0.1:8025\"\n" + webUser + webUser, "listed twice"},
		{"[web_admin]\naddres = \"127.0.0.1:8025\"\n", "unknown key"},
	} {
		_, err := Parse([]byte(webBase + tc.toml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.toml, err, tc.want)
		}
	}
	if _, err := Parse([]byte(webBase + "[web_admin]\naddress = \"192.0.2.1:8025\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n" + webUser)); err != nil {
		t.Errorf("a non-loopback address with TLS refused: %v", err)
	}
}

// Every [web_admin] key is documented in its section of
// docs/configuration.md.
func TestWebAdminKeysDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## [web_admin]\n")
	if start < 0 {
		t.Fatal("docs/configuration.md has no [web_admin] section")
	}
	section := doc[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(WebAdmin{}), reflect.TypeOf(WebAdminUser{})} {
		for i := range typ.NumField() {
			key := typ.Field(i).Tag.Get("toml")
			if key == "user" {
				key = "[[web_admin.user]]"
				if !strings.Contains(section, key) {
					t.Errorf("%s is not in docs/configuration.md", key)
				}
				continue
			}
			if !strings.Contains(section, "`"+key+"`") {
				t.Errorf("web_admin key %s is not in the [web_admin] section of docs/configuration.md", key)
			}
		}
	}
}

// examples/quickstart.toml turns the web administration on at
// 127.0.0.1:8025 for admin, whose hash is of the password its comment
// gives, admin-secret.
func TestQuickstartWebAdmin(t *testing.T) {
	c, err := Load("../examples/quickstart.toml")
	if err != nil {
		t.Fatal(err)
	}
	w := c.WebAdmin
	if w.Address != "127.0.0.1:8025" || w.TLS() || len(w.Users) != 1 || w.Users[0].Name != "admin" {
		t.Fatalf("quickstart [web_admin]: %+v", w)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(w.Users[0].PasswordHash), []byte("admin-secret")); err != nil {
		t.Errorf("the quickstart's admin hash is not of admin-secret: %v", err)
	}
	b, _ := os.ReadFile("../examples/quickstart.toml")
	if !strings.Contains(string(b), "admin-secret") || strings.Contains(string(b), "password = \"admin-secret\"") {
		t.Errorf("the quickstart should name the password in a comment and store only its hash")
	}
}
