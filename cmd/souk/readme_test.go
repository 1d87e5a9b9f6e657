package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/pgtest"
)

// The README's walkthrough is run as a reader runs it: its ```sh blocks between
// "<!-- walkthrough: begin -->" and "<!-- walkthrough: end -->", in order, pasted into one
// bash shell (set -euo pipefail) at the root of the repository. A line ending in "# → text"
// promises text in what its block prints. "<!-- walkthrough: needs <command> -->" before a
// block runs it only when the command is installed (else the test says it skipped it).
const (
	walkBegin    = "<!-- walkthrough: begin -->"
	walkEnd      = "<!-- walkthrough: end -->"
	walkNeeds    = "<!-- walkthrough: needs "
	walkDeadline = 4 * time.Minute
)

// walkBlock is one runnable block of the README.
type walkBlock struct {
	line    int      // the README line of its opening fence
	text    string   // the commands, as the reader sees them
	needs   string   // a command it needs, or ""
	expects []string // the "# → text" promises, in order
}

// promise is a "# → text" comment at the end of a line.
var promise = regexp.MustCompile(`#\s*→\s*(.+?)\s*$`)

// walkthrough returns the runnable blocks of a README, in order.
func walkthrough(readme string) ([]walkBlock, error) {
	var blocks []walkBlock
	var cur *walkBlock
	inside, needs := false, ""
	for i, l := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case cur != nil && trimmed == "```":
			blocks, cur = append(blocks, *cur), nil
		case cur != nil:
			cur.text += l + "\n"
			if m := promise.FindStringSubmatch(l); m != nil {
				cur.expects = append(cur.expects, m[1])
			}
		case trimmed == walkBegin:
			inside = true
		case trimmed == walkEnd:
			inside = false
		case inside && strings.HasPrefix(trimmed, walkNeeds):
			needs = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trimmed, walkNeeds), "-->"))
		case inside && (trimmed == "```sh" || trimmed == "```bash"):
			cur, needs = &walkBlock{line: i + 1, needs: needs}, ""
		}
	}
	if cur != nil || inside {
		return nil, errors.New("README: a walkthrough block or region is not closed")
	}
	if len(blocks) == 0 {
		return nil, errors.New("README: no walkthrough blocks (" + walkBegin + " … " + walkEnd + ")")
	}
	return blocks, nil
}

// walkScript is the blocks as one bash script, each announced by a marker line on stdout and
// stderr, so the output can be told apart per block.
func walkScript(blocks []walkBlock, skip func(walkBlock) bool) string {
	var b strings.Builder
	b.WriteString("set -euo pipefail\n")
	for i, blk := range blocks {
		if skip(blk) {
			continue
		}
		fmt.Fprintf(&b, "printf '\\n%s%d\\n'; printf '\\n%s%d\\n' >&2\n", blockMarker, i, blockMarker, i)
		b.WriteString(blk.text)
	}
	fmt.Fprintf(&b, "printf '\\n%sdone\\n'\n", blockMarker)
	return b.String()
}

const blockMarker = "::walkthrough block "

// splitOutput cuts the script's output into each block's part, by index; last is the index
// of the last block that started (-1 when none did), done whether the script got to its end.
func splitOutput(out string) (parts map[int]string, last int, done bool) {
	parts, last, cur := map[int]string{}, -1, -1
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, blockMarker); ok {
			if rest == "done" {
				done, cur = true, -1
				continue
			}
			if n, err := strconv.Atoi(rest); err == nil {
				cur, last = n, n
				continue
			}
		}
		if cur >= 0 {
			parts[cur] += l + "\n"
		}
	}
	return parts, last, done
}

// unkept returns the promises of b that out does not keep, in order: each must appear after
// the one before it.
func unkept(b walkBlock, out string) []string {
	var missing []string
	rest := out
	for _, want := range b.expects {
		i := strings.Index(rest, want)
		if i < 0 {
			missing = append(missing, want)
			continue
		}
		rest = rest[i+len(want):]
	}
	return missing
}

// readerEnv is the environment of a reader who set nothing of Souk's: this process's
// without the shop's settings, plus the given ones.
func readerEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SOUK_") || strings.HasPrefix(k, "NATS_") || strings.HasPrefix(k, "DATABASE_URL") ||
			strings.HasPrefix(k, "MEILI_") || strings.HasPrefix(k, "STRIPE_") || set[k] != "" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// TestREADMEWalkthrough runs the README's walkthrough from the root of this tree, as a reader
// pastes it, on free ports and a fresh database (dropped afterwards), and checks every
// promise it makes. It leaves no process behind: the shell and all it started (the shop, the
// webhook receiver) are one process group, stopped when the test ends.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("SOUK_REQUIRE_README") != "" {
				t.Fatalf("the README's walkthrough needs %s, which is not installed", tool)
			}
			t.Skipf("the README's walkthrough needs %s, which is not installed (SOUK_REQUIRE_README=1 fails instead)", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := walkthrough(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut := runWalkthrough(t, root, blocks)
	checkWalkthrough(t, blocks, out, errOut)
}

// runWalkthrough runs blocks in one bash at root and returns what it printed on stdout and
// stderr. A reader's environment: the shop on a free port, the embedded NATS server on
// another, a fresh database, temporary files in the test's own directory.
func runWalkthrough(t *testing.T, root string, blocks []walkBlock) (stdout, stderr string) {
	t.Helper()
	tmp := t.TempDir()
	env := readerEnv(map[string]string{
		"DATABASE_URL":     pgtest.NewDatabase(t),
		"SOUK_HTTP_ADDR":   freeAddr(t),
		"SOUK_NATS_LISTEN": "127.0.0.1:0",
		"SOUK_DATA_DIR":    filepath.Join(tmp, "data"),
		"TMPDIR":           tmp,
	})
	script := walkScript(blocks, func(b walkBlock) bool {
		if b.needs == "" {
			return false
		}
		if _, err := exec.LookPath(b.needs); err != nil {
			t.Logf("README line %d: skipped, %s is not installed", b.line, b.needs)
			return true
		}
		return false
	})
	outFile, errFile := filepath.Join(tmp, "stdout"), filepath.Join(tmp, "stderr")
	stdoutF, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer stdoutF.Close()
	stderrF, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer stderrF.Close()
	ctx, cancel := context.WithTimeout(context.Background(), walkDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env = root, env
	// Files, not pipes: what a block starts in the background keeps its copy of the
	// descriptors, and must not keep Wait waiting.
	cmd.Stdout, cmd.Stderr = stdoutF, stderrF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGroup(t, cmd.Process.Pid) })
	runErr := cmd.Wait()
	t.Logf("walkthrough: %d blocks in %s", len(blocks), time.Since(start).Round(time.Second))
	o, _ := os.ReadFile(outFile)
	e, _ := os.ReadFile(errFile)
	if runErr != nil {
		_, last, _ := splitOutput(string(o))
		where := "before its first block"
		if last >= 0 {
			where = fmt.Sprintf("in the block of README line %d", blocks[last].line)
		}
		t.Fatalf("the walkthrough failed %s (%v)\nstdout:\n%s\nstderr:\n%s", where, runErr, tail(o), tail(e))
	}
	return string(o), string(e)
}

// checkWalkthrough fails t for each block that did not run, or did not print what it promises.
func checkWalkthrough(t *testing.T, blocks []walkBlock, stdout, stderr string) {
	t.Helper()
	parts, _, done := splitOutput(stdout)
	if !done {
		t.Fatalf("the walkthrough did not reach its end\nstdout:\n%s\nstderr:\n%s", tail([]byte(stdout)), tail([]byte(stderr)))
	}
	for i, b := range blocks {
		out, ran := parts[i]
		if !ran && b.needs != "" {
			continue
		}
		if missing := unkept(b, out); len(missing) > 0 {
			t.Errorf("README line %d: the block does not print %q; it printed:\n%s", b.line, missing, out)
		}
	}
}

// stopGroup ends the process group of the walkthrough's shell: whatever a block left
// running (SIGTERM, then SIGKILL after ten seconds).
func stopGroup(t *testing.T, pgid int) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // nothing left
	}
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }()
	expect.Within(t, 10*time.Second, func() error {
		if groupRuns(pgid) {
			return fmt.Errorf("processes of the walkthrough still run after SIGTERM (group %d)", pgid)
		}
		return nil
	})
}

// groupRuns tells whether a process of group pgid runs. An exited one that its new parent
// has not reaped yet (a zombie) does not count; without /proc, any member counts.
func groupRuns(pgid int) bool {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp …: comm may hold spaces and parentheses.
		_, after, ok := bytes.Cut(b, []byte(") "))
		for ok && bytes.Contains(after, []byte(") ")) {
			_, after, ok = bytes.Cut(after, []byte(") "))
		}
		fields := strings.Fields(string(after))
		if len(fields) >= 3 && fields[0] != "Z" && fields[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// tail is the end of a long output, where a failure shows.
func tail(b []byte) string {
	const keep = 6000
	if len(b) > keep {
		b = append([]byte("…"), b[len(b)-keep:]...)
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

func TestWalkthroughParsesBlocksAndPromises(t *testing.T) {
	readme := "# x\n```sh\nnot run\n```\n" + walkBegin + "\ntext\n```sh\nA=1\necho $A   # → 1\n```\n```go\nnot run\n```\n" +
		walkNeeds + "nats -->\n```sh\nnats x   # → y\n```\n" + walkEnd + "\n```sh\nnot run either\n```\n"
	blocks, err := walkthrough(readme)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].text != "A=1\necho $A   # → 1\n" || blocks[0].line != 7 ||
		fmt.Sprint(blocks[0].expects) != "[1]" || blocks[0].needs != "" || blocks[1].needs != "nats" {
		t.Fatalf("blocks: %+v", blocks)
	}
	if unkept(blocks[0], "x\n1\n") != nil || unkept(blocks[1], "z") == nil {
		t.Fatal("promises checked wrongly")
	}
	if _, err := walkthrough("# no walkthrough\n```sh\necho\n```\n"); err == nil {
		t.Fatal("a README without a walkthrough must fail")
	}
	parts, last, done := splitOutput("\n" + blockMarker + "0\nhello\n" + blockMarker + "1\nworld\n")
	if parts[0] != "hello\n" || parts[1] != "world\n" || last != 1 || done {
		t.Fatalf("split: %v %d %v", parts, last, done)
	}
}
