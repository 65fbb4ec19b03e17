package deliver

import (
	"fmt"
	"os"
	"path/filepath"
)

// JunkFolder is the Maildir++ folder that takes messages at or above the
// store threshold (docs/filtering.md): <Maildir>/.Junk/{tmp,new,cur},
// which Dovecot and Courier show as the folder "Junk".
const JunkFolder = ".Junk"

// SCLHeader is the field that carries a message's SCL into the mailbox,
// with Exchange's name so that mail clients and rules that know it work.
// It is added only here, at final delivery, never on relay.
const SCLHeader = "X-MS-Exchange-Organization-SCL"

// folder is where an item goes: the mailbox's Maildir, or its Junk
// folder.
func (md *Maildir) folder(it Item) string {
	dir := md.Dir(it.Rcpt)
	if it.Junk {
		dir = filepath.Join(dir, JunkFolder)
	}
	return dir
}

// traceFields are the fields added at delivery (RFC 5321 §4.4), and the
// SCL when it is known.
func traceFields(it Item, deliveredTo string) string {
	s := fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", it.From, deliveredTo)
	if it.SCL != nil {
		s += fmt.Sprintf("%s: %d\r\n", SCLHeader, *it.SCL)
	}
	return s
}

// markFolder makes a Maildir++ folder known as one to mail readers (the
// empty maildirfolder file Courier and Dovecot look for).
func markFolder(dir string) error {
	if filepath.Base(dir) != JunkFolder {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
