package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func runServeMain(t *testing.T, ctx context.Context, args []string, stdin io.Reader) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- serveMain(ctx, args, stdin, &out, &errb) }()
	select {
	case code := <-done:
		return code, out.String(), errb.String()
	case <-time.After(15 * time.Second):
		t.Fatal("simrun serve did not stop")
		return 0, "", ""
	}
}

// TestServeStdin: simrun serve prints the addresses, runs actions typed on
// stdin (printing the layout after each), reports bad ones, and stops on
// quit with status 0.
func TestServeStdin(t *testing.T) {
	in := strings.NewReader("help\nsplit(\"t\")\ntransfer(\"a\",2)\nregions\nbogus(\n\nquit\nsplit(\"never\")\n")
	code, out, errs := runServeMain(t, context.Background(), []string{"--stores", "2", "--split", "g, n"}, in)
	if code != exitValid {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	for _, want := range []string{
		"pd      127.0.0.1:", "store1  127.0.0.1:", "store2  127.0.0.1:", "transactional",
		"tso-jump(10s)", // help
		`split("t")` + "\nregion", `region 2 ["t", +inf)`,
		`transfer("a",2)`,
		"error: serve: action \"bogus(\": neither a cluster action",
		"stopped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never") {
		t.Errorf("a line after quit ran:\n%s", out)
	}
	if n := strings.Count(out, `["n", "t")`); n < 2 {
		t.Errorf("the layout after the split is printed %d times, want 2 (split and regions):\n%s", n, out)
	}
}

// TestServeStopsOnSignal: with stdin closed the server keeps serving; a
// done context (what SIGINT and SIGTERM do) stops it cleanly.
func TestServeStopsOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	code, out, errs := runServeMain(t, ctx, []string{"--raw-keys", "--stores", "1"}, strings.NewReader(""))
	if code != exitValid || !strings.Contains(out, "stopped") || !strings.Contains(out, "raw region boundaries") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Error("stdin EOF stopped the server")
	}
}

// TestServeUsage: bad flags and arguments exit 2.
func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{{"--stores", "0"}, {"extra"}, {"--no-such-flag"}, {"--pd-port", "70000"}} {
		if code, _, _ := runServeMain(t, context.Background(), args, strings.NewReader("")); code != exitUsage {
			t.Errorf("simrun serve %v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errs := runServeMain(t, context.Background(), []string{"--help"}, strings.NewReader("")); code != exitValid || !strings.Contains(errs, "--pd-port") {
		t.Errorf("--help: exit %d\n%s", code, errs)
	}
}

// TestServeAPIV2: --api v2 with --keyspace creates the keyspaces at start;
// "keyspace NAME" on stdin creates more.
func TestServeAPIV2(t *testing.T) {
	code, out, errs := runServeMain(t, context.Background(), []string{"--api", "v2", "--keyspace", "a,b", "--stores", "1"},
		strings.NewReader("keyspace c raw\nkeyspace\nkeyspace a\nquit\n"))
	if code != exitValid {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	for _, want := range []string{"keyspace a id 1", "keyspace b id 2", "keyspace c id 3", "API V2", "error: want keyspace NAME", "error: serve: action \"create keyspace a\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runServeMain(t, context.Background(), []string{"--api", "v3"}, strings.NewReader("")); code != exitUsage {
		t.Errorf("--api v3: exit %d", code)
	}
}
