package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkit"
)

// TestExampleLDAP runs examples/ldap as the README describes it:
// start-slapd.sh starts a slapd loaded with examples/org's organization
// (imported with mailward directory import), examples/ldap's mx1 and mx2
// read it, and they behave exactly as examples/org's servers do
// (exampleOrgBehaves); stop-slapd.sh stops it. The files are the shipped
// ones but for the ports.
func TestExampleLDAP(t *testing.T) {
	testkit.RequireSlapd(t)
	org, ex := loadExampleOrg(t), loadExample(t, "../examples/ldap")
	ports := map[string]string{"127.0.0.1:3389": freeAddr(t)}
	for _, a := range exampleOrgAddrs {
		ports[a] = freeAddr(t)
	}
	// A tree as the repository's: examples/ldap, examples/org and the
	// schema the script loads.
	tree := func() string {
		root := t.TempDir()
		ex.copyTo(t, filepath.Join(root, "examples", "ldap"), ports)
		org.copyTo(t, filepath.Join(root, "examples", "org"), ports)
		schema := filepath.Join(root, "directory", "ldapdir", "schema")
		os.MkdirAll(schema, 0o700)
		b, err := os.ReadFile("../directory/ldapdir/schema/mailward.ldif")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(schema, "mailward.ldif"), string(b))
		return root
	}
	root := tree()
	script := func(name string) string {
		cmd := exec.Command("bash", filepath.Join(root, "examples", "ldap", name))
		cmd.Env = append(os.Environ(), "MAILWARD="+binary)
		out, err := runBounded(cmd, 60*time.Second)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	out := script("start-slapd.sh")
	t.Cleanup(func() { script("stop-slapd.sh") })
	if !strings.Contains(out, "holds examples/org's organization") {
		t.Fatalf("start-slapd.sh:\n%s", out)
	}
	start := func(name string) *server {
		dir := filepath.Join(tree(), "examples", "ldap")
		return startServerText(t, dir, ex.config(t, name, ports), nil)
	}
	mx2 := start("mx2.toml")
	mx1 := start("mx1.toml")
	exampleOrgBehaves(t, mx1, mx2)
	if out := script("stop-slapd.sh"); !strings.Contains(out, "slapd stopped") {
		t.Errorf("stop-slapd.sh: %s", out)
	}
}
