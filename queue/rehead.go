package queue

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"syscall"

	"mailward/internal/durable"
)

// rehead writes the envelope again when the receive side changed what
// it records after Create: the content filter's SCL is known only once
// the whole message is in (docs/filtering.md), after its envelope was
// written. A message still in memory (most) is a splice; a large one
// already spilled to its file is copied into a new file under the same
// name, behind its new envelope.
func (w *Writer) rehead() error {
	if sameSCL(w.headSCL, w.env.SCL) {
		return nil
	}
	head, err := encodeEnvelope(w.env)
	if err != nil {
		return err
	}
	if w.bw == nil {
		body := w.mem[w.bodyOffset:]
		mem := make([]byte, 0, len(head)+len(body))
		w.mem = append(append(mem, head...), body...)
		w.bodyOffset = int64(len(head))
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	old, err := os.Open(w.tmp)
	if err != nil {
		return err
	}
	defer old.Close()
	if err := os.Remove(w.tmp); err != nil {
		return err
	}
	f, err := durable.OpenFile(w.tmp, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w.f.Close()
	w.f = f
	w.bw = bufio.NewWriterSize(f, 64<<10)
	if _, err := w.bw.WriteString(head); err != nil {
		return err
	}
	if _, err := io.Copy(w.bw, io.NewSectionReader(old, w.bodyOffset, 1<<62)); err != nil {
		return fmt.Errorf("copy behind the new envelope: %w", err)
	}
	w.bodyOffset = int64(len(head))
	return nil
}

func sameSCL(a, b *int) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
