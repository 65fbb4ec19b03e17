// Command gendoc writes docs/events.md from the event catalogue:
//
//	go run ./events/gendoc > docs/events.md
package main

import (
	"fmt"
	"os"

	"mailward/events"
)

func main() {
	if err := events.WriteMarkdown(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}
