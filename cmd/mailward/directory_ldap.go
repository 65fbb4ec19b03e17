package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"mailward/config"
	"mailward/directory"
	"mailward/directory/ldapdir"
	"mailward/internal/setup"
)

// The LDAP directory's tools (docs/directory.md): import writes an
// organization file into LDAP, export reads LDAP back as a file or as
// LDIF, so a site moves from one backend to the other.

// ldapConfig loads the configuration and requires directory = "ldap".
func ldapConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if cfg.Organization.Directory != config.OrgDirectoryLDAP {
		return nil, fmt.Errorf("%s: [organization] directory is %q: the import and export tools need directory = \"ldap\" and [organization.ldap]",
			path, cfg.Organization.Directory)
	}
	return cfg, nil
}

// directoryImport: mailward directory import FILE.toml --config F. The
// file is checked as a server checks its directory before anything is
// written; each entry is then added, or modified when it exists, with
// the configured bind (which must be allowed to write).
func directoryImport(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("directory import", flag.ContinueOnError)
	path := fs.String("config", "mailward.toml", "configuration file")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if file == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: mailward directory import FILE.toml --config FILE")
	}
	cfg, err := ldapConfig(*path)
	if err != nil {
		return err
	}
	org, err := directory.NewOrg(cfg.Organization.Name, directory.OrgFile{}, file)
	if err != nil {
		return err
	}
	if errs, _ := org.Validate(); len(errs) > 0 {
		return fmt.Errorf("%s: nothing written: %s", file, strings.Join(errs, "; "))
	}
	c, err := setup.LDAPClient(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	added, modified, err := c.Apply(ldapdir.Encode(ldapdir.File(org), cfg.Organization.LDAP.BaseDN))
	if err != nil {
		return fmt.Errorf("import into %s: %w (entries before it were written; importing again is safe)", cfg.Organization.LDAP.URL, err)
	}
	fmt.Fprintf(w, "imported %s into %s under %s: %d entries added, %d updated\n", file, cfg.Organization.LDAP.URL,
		cfg.Organization.LDAP.BaseDN, added, modified)
	return nil
}

// directoryExport: mailward directory export --config F [--format toml|ldif].
func directoryExport(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("directory export", flag.ContinueOnError)
	path := fs.String("config", "mailward.toml", "configuration file")
	format := fs.String("format", "toml", "toml (an organization file) or ldif")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("usage: mailward directory export --config FILE [--format toml|ldif]")
	}
	cfg, err := ldapConfig(*path)
	if err != nil {
		return err
	}
	c, err := setup.LDAPClient(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	org, err := c.Load(cfg.Organization.Name)
	if err != nil {
		return err
	}
	var out []byte
	switch *format {
	case "toml":
		out, err = ldapdir.TOML(org)
	case "ldif":
		out = ldapdir.LDIF(ldapdir.Encode(ldapdir.File(org), cfg.Organization.LDAP.BaseDN), ldapdir.Attributes(cfg.Organization.LDAP.Attributes))
	default:
		return fmt.Errorf("--format %q: want toml or ldif", *format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
