package deliver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"mailward/internal/durable"
)

// Instance is one stored instance of a message shared by several
// mailboxes of this server: written once, then hard-linked into each
// mailbox's new/ (Link). It is Exchange's single-instance store, and
// what Dovecot does for copies between Maildirs: the members of a
// distribution group get the same file, so a thousand members cost one
// file's data and a thousand directory entries instead of a thousand
// files (docs/queue.md, "Local delivery"). Maildir files are never
// changed in place (a reader's flags go in the name, a deletion removes
// one link), so sharing is invisible to readers. The price is that the
// instance's Delivered-To names what the members share (the group), not
// each member.
type Instance struct {
	md   *Maildir
	path string // its name under <mailbox_dir>/.instances, removed by Close
}

// instanceDir holds instances while they are linked. A mailbox's
// directory is named after its address, which always contains an '@'
// (Dir), so this name is no mailbox's.
const instanceDir = ".instances"

// NewInstance writes the message once, with Return-Path and Delivered-To
// (RFC 5321 §4.4; deliveredTo: what the mailboxes share), named after
// it (its queue ID and index: it, the first of the mailboxes). Without
// FSSync its data is synced here; with it, by Sync after the links.
func (md *Maildir) NewInstance(it Item, deliveredTo string, content io.Reader) (*Instance, error) {
	dir := filepath.Join(md.Base, instanceDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	path := filepath.Join(dir, md.FileName(it))
	f, err := durable.OpenFile(path, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	if err := md.writeFile(f, it, deliveredTo, content); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%w: instance %s: %w", ErrTemporary, path, err)
	}
	return &Instance{md: md, path: path}, nil
}

// Link gives one mailbox the instance, in new/ under its own name
// (FileName: its queue ID and index, the same on every attempt). Like
// Write, it is durable when Link returns without FSSync, after Sync
// with it. A name left in new/ by an attempt before a crash is not
// trusted (its data may not have reached the disk): it is replaced.
func (in *Instance) Link(it Item) (string, error) {
	md := in.md
	dir := md.folder(it)
	name := md.FileName(it)
	final := filepath.Join(dir, "new", name)
	if it.Recovered && md.readByUser(dir, name) {
		return final, nil // a mail reader already took it into cur/
	}
	if err := md.ensure(dir); err != nil {
		return "", err
	}
	err := os.Link(in.path, final)
	if errors.Is(err, os.ErrNotExist) {
		md.made.Delete(dir) // removed behind our back? re-create next time
	}
	if errors.Is(err, os.ErrExist) {
		// Replaced in one step, as Write's rename over it does: a link
		// in tmp/, renamed over the old name.
		tmp := filepath.Join(dir, "tmp", name)
		os.Remove(tmp)
		if err = os.Link(in.path, tmp); err == nil {
			if err = syscall.Rename(tmp, final); err != nil {
				os.Remove(tmp)
			}
		}
	}
	if err == nil && md.FSSync == nil {
		err = md.syncer(filepath.Join(dir, "new")).Sync()
	}
	if err != nil {
		return "", fmt.Errorf("%w: maildir %s: %w", ErrTemporary, dir, err)
	}
	return final, nil
}

// Close removes the instance's own name; the mailboxes' links keep it.
func (in *Instance) Close() error {
	return os.Remove(in.path)
}

// RemoveInstances removes the names of instances a crash left behind
// (at start, before any delivery): the mailboxes' links keep their data,
// and an instance no mailbox got yet is written again by the retry.
func (md *Maildir) RemoveInstances() error {
	err := os.RemoveAll(filepath.Join(md.Base, instanceDir))
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}
