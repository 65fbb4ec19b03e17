package setup

import (
	"mailward/deliver"
	"mailward/directory"
	"mailward/smtp"
)

// folderCounter answers X-MWFOLDER: the message count of this server's
// replica of a shared folder (docs/shared-folders.md).
type folderCounter struct {
	dir *directory.Recipients
	md  *deliver.Maildir
}

func (f folderCounter) FolderCount(addr string) (int, error) {
	e, err := f.dir.Find(addr)
	if err != nil {
		return 0, err
	}
	if e.Kind != directory.FolderEntry || !e.Folder.HasReplica(f.dir.Self) {
		return 0, smtp.ErrNoReplica
	}
	return f.md.Count(e.Folder.Address)
}
