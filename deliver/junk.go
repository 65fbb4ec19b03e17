package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

// withoutSCL is content without any SCL field of its own: the header
// says what this organization decided, so a field that came with the
// message — written by a sender to look trusted (-1), perhaps on a
// message whose SCL is unknown and gets none of ours — is dropped, as
// Exchange drops its organization fields from anonymous mail. Only the
// header is read line by line; the body is copied as it is.
func withoutSCL(content io.Reader) io.Reader {
	br := bufio.NewReaderSize(content, 8<<10)
	var head bytes.Buffer
	dropping := false
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A header line longer than the buffer: keep it whole, as
			// it is, and stop looking (no SCL field is that long).
			head.Write(line)
			break
		}
		end := len(line) == 0 || string(line) == "\r\n" || string(line) == "\n"
		folded := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		switch {
		case end:
			dropping = false
		case folded && dropping:
			continue
		case folded:
		default:
			name, _, _ := bytes.Cut(line, []byte(":"))
			dropping = bytes.EqualFold(bytes.TrimSpace(name), []byte(SCLHeader))
		}
		if !dropping {
			head.Write(line)
		}
		if end || err != nil {
			break
		}
	}
	return io.MultiReader(&head, br)
}
