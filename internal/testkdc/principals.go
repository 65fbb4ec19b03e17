package testkdc

// Principals and keytabs of the throwaway realm (kadmin.local).

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// AddPrincipal creates a principal (names are case-sensitive:
// "SMTP/mx2.example.test"); an empty password gives it random keys.
func (k *KDC) AddPrincipal(name, password string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if password == "" {
		return k.kadmin("addprinc -randkey " + name)
	}
	if strings.ContainsAny(password, "\"\\\r\n") {
		return errors.New("testkdc: password must not contain quotes, backslashes or newlines")
	}
	return k.kadmin(`addprinc -pw "` + password + `" ` + name)
}

// Keytab writes the principals' keys to the keytab file at path with
// kadmin's ktadd, which — as in real life — gives each principal NEW random
// keys and a higher key version number first: keytabs taken earlier for
// the same principals become stale. Use ExportKeytab to keep the keys.
func (k *KDC) Keytab(path string, principals ...string) error {
	return k.ktadd(path, false, principals)
}

// ExportKeytab writes the principals' current keys to path (ktadd
// -norandkey): keytabs taken earlier stay valid.
func (k *KDC) ExportKeytab(path string, principals ...string) error {
	return k.ktadd(path, true, principals)
}

func (k *KDC) ktadd(path string, keep bool, principals []string) error {
	if len(principals) == 0 {
		return errors.New("testkdc: keytab: no principals")
	}
	if strings.ContainsAny(path, " \t\r\n\"'\\") {
		return fmt.Errorf("testkdc: keytab path %q must not contain spaces or quotes", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("testkdc: %w", err)
	}
	q := "ktadd -k " + abs
	if keep {
		q += " -norandkey"
	}
	for _, p := range principals {
		if err := checkName(p); err != nil {
			return err
		}
		q += " " + p
	}
	return k.kadmin(q)
}

// DeletePrincipal removes a principal from the realm.
func (k *KDC) DeletePrincipal(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return k.kadmin("delprinc -force " + name)
}

// Kinit fills the credential cache ccache (a path) for principal from
// keytab, as `kinit -k -t keytab principal` does.
func (k *KDC) Kinit(ccache, keytab, principal string) error {
	_, err := k.run("kinit", "-c", "FILE:"+ccache, "-k", "-t", keytab, principal)
	return err
}
