package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDocumentedOutputs runs every command that README.md and docs/*.md
// show with its output on the shipped organization example
// (examples/org, both servers running) and requires the output shown
// to be exactly what the tool prints: documentation that drifts from
// the tool fails here. A shown block is a fenced block whose lines
// start with "$ mailward ..."; only commands on examples/org files (or
// its servers' ports) are run; dates and the skew of diag clock are
// compared by shape.
func TestDocumentedOutputs(t *testing.T) {
	examples := loadExampleOrg(t)
	_, _, ports := startExampleOrg(t, examples)
	// Where the documented commands run: a tree with examples/org whose
	// files name the running servers' ports.
	work := t.TempDir()
	examples.copyTo(t, filepath.Join(work, "examples", "org"), ports)

	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	checked := 0
	for _, f := range files {
		for _, shown := range shownCommands(t, f) {
			if !runsOnExample(shown.command) || strings.Contains("\n"+shown.output, "\n...") {
				continue // another configuration, or output elided
			}
			checked++
			args := strings.Fields(replaceAll(strings.TrimPrefix(shown.command, "$ mailward "), ports))
			cmd := exec.Command(binary, args...)
			cmd.Dir = work
			out, _ := runBounded(cmd, time.Minute)
			got := normalizeOutput(replaceAll(string(out), invert(ports)))
			if want := normalizeOutput(shown.output); got != want {
				t.Errorf("%s line %d: %s\nthe documentation shows:\n%s\nthe tool prints:\n%s", f, shown.line, shown.command, shown.output, replaceAll(string(out), invert(ports)))
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d documented commands found to check", checked)
	}
}

// exampleOrgAddrs are the addresses the files of examples/org name: mx1's
// virtual servers default and submission, mx2's default.
var exampleOrgAddrs = []string{"127.0.0.1:2725", "127.0.0.1:2787", "127.0.0.1:2726"}

// startExampleOrg runs the shipped example's two servers, mx2 then mx1,
// each in a copy of examples/org whose files (the servers' and the shared
// directory with its delivery_address) name free ports instead of the
// example's; ports maps each example address to the one in use.
func startExampleOrg(t *testing.T, examples example) (mx1, mx2 *server, ports map[string]string) {
	t.Helper()
	ports = map[string]string{}
	for _, a := range exampleOrgAddrs {
		ports[a] = freeAddr(t)
	}
	start := func(name string) *server {
		dir := t.TempDir()
		examples.copyTo(t, dir, ports)
		return startServerText(t, dir, examples.config(t, name, ports), nil)
	}
	mx2 = start("mx2.toml")
	mx1 = start("mx1.toml")
	return mx1, mx2, ports
}

type example struct{ files map[string][]byte }

func loadExampleOrg(t *testing.T) example {
	t.Helper()
	return loadExample(t, "../examples/org")
}

// loadExample reads the files of one example directory.
func loadExample(t *testing.T, dir string) example {
	t.Helper()
	e := example{files: map[string][]byte{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ents {
		if d.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, d.Name()))
			if err != nil {
				t.Fatal(err)
			}
			e.files[d.Name()] = b
		}
	}
	return e
}

// copyTo puts the example's files in dir, with addresses replaced.
func (e example) copyTo(t *testing.T, dir string, repl map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range e.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(replaceAll(string(b), repl)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// config is one of the example's configurations with addresses replaced.
func (e example) config(t *testing.T, name string, repl map[string]string) string {
	t.Helper()
	b, ok := e.files[name]
	if !ok {
		t.Fatalf("examples/org/%s missing", name)
	}
	return replaceAll(string(b), repl)
}

type shown struct {
	line            int
	command, output string
}

// shownCommands finds the "$ mailward ..." lines of fenced blocks and
// the output under each, up to the next "$ " line or the block's end.
func shownCommands(t *testing.T, path string) []shown {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []shown
	fence, in := false, false // inside a fence; inside a plain one (no language)
	var cur *shown
	flush := func() {
		if cur != nil {
			cur.output = strings.TrimRight(cur.output, "\n")
			out = append(out, *cur)
			cur = nil
		}
	}
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			flush()
			fence = !fence
			in = fence && l == "```"
		case in && strings.HasPrefix(l, "$ mailward "):
			flush()
			cur = &shown{line: i + 1, command: l}
		case in && strings.HasPrefix(l, "$ "):
			flush()
		case cur != nil:
			cur.output += l + "\n"
		}
	}
	return out
}

// runsOnExample: a command on the shipped example, whose output is not
// elided ("...") in the documentation.
func runsOnExample(cmd string) bool {
	return strings.Contains(cmd, "examples/org/") || strings.Contains(cmd, "diag clock 127.0.0.1:272")
}

var (
	dateRe = regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}`)
	skewRe = regexp.MustCompile(`skew: -?[0-9.]+(ms|s|m)`)
)

func normalizeOutput(s string) string {
	s = dateRe.ReplaceAllString(s, "<date>")
	s = skewRe.ReplaceAllString(s, "skew: <small>")
	return strings.TrimRight(s, "\n")
}

func replaceAll(s string, repl map[string]string) string {
	for k, v := range repl {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

func invert(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[v] = k
	}
	return out
}
