package events

import (
	"bytes"
	"os"
	"testing"
)

// TestDocsUpToDate keeps docs/events.md in step with the catalogue.
func TestDocsUpToDate(t *testing.T) {
	want, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatalf("read docs/events.md: %v; run: go run ./events/gendoc > docs/events.md", err)
	}
	var got bytes.Buffer
	if err := WriteMarkdown(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("docs/events.md differs from events/catalogue.go; run: go run ./events/gendoc > docs/events.md")
	}
}
