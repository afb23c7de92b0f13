package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/sim/serve"
)

const serveUsage = `simrun serve: the fake cluster over gRPC on loopback, in real time.

Usage:
  simrun serve [--stores N] [--host H] [--pd-port P] [--raw-keys] [--split k1,k2]
               [--api v2 --keyspace ks1,ks2]

Starts the fake PD and N fake TiKV stores (the simulator's cluster code, on
the wall clock) and prints their addresses. Point any PD client or TiKV client
at the PD address: it serves what the newest PD client calls (members, TSO,
region lookups, stores, GC states, keyspaces) and every command the fake
stores implement, unary and over BatchCommands.

Then type cluster actions or network faults on stdin, one per line, to watch
a client survive them; an action prints the region layout after it. "help" lists the actions,
"regions" prints the layout, "quit" (or Ctrl-C, SIGTERM) stops cleanly.
Exit status: 0 on a clean stop, 2 on bad usage or a failure to start, 4 if the
cluster itself failed.

Flags:
`

// runServe is `simrun serve`. Signals stop it (signal handling lives here,
// outside the guarded packages).
func runServe(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveMain(ctx, args, stdin, stdout, stderr)
}

// serveMain serves until ctx is done, stdin says quit, or the cluster
// fails.
func serveMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simrun serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stores := fs.Int("stores", 3, "number of TiKV stores")
	host := fs.String("host", "127.0.0.1", "address every server listens on")
	pdPort := fs.Int("pd-port", 0, "PD's port (0: any free port); stores always take free ports")
	raw := fs.Bool("raw-keys", false, "raw region boundaries (API V1 raw mode) instead of memcomparable-encoded transactional ones")
	split := fs.String("split", "", "comma-separated initial split keys (user keys), e.g. g,n,t")
	api := fs.String("api", "v1", "storage API version: v1, or v2 (keys carry a keyspace prefix; create keyspaces with --keyspace)")
	keyspaces := fs.String("keyspace", "", "comma-separated keyspaces to create at start (raw region bounds with --raw-keys, else transactional)")
	verbose := fs.Bool("v", false, "log requests the cluster could not serve, and other events, to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitValid
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simrun serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if *stores < 1 {
		fmt.Fprintln(stderr, "simrun serve: --stores must be at least 1")
		return exitUsage
	}
	cfg := serve.Config{Stores: *stores, Host: *host, PDPort: *pdPort, RawKeys: *raw}
	switch *api {
	case "v1", "1":
	case "v2", "2":
		cfg.Cluster.APIVersion = kvrpcpb.APIVersion_V2
	default:
		fmt.Fprintf(stderr, "simrun serve: --api must be v1 or v2, not %q\n", *api)
		return exitUsage
	}
	for _, k := range strings.Split(*split, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Cluster.SplitKeys = append(cfg.Cluster.SplitKeys, []byte(k))
		}
	}
	if *verbose {
		cfg.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	began := time.Now()
	srv, err := serve.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "simrun serve: %v\n", err)
		return exitUsage
	}
	for _, name := range strings.Split(*keyspaces, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		m, err := srv.CreateKeyspace(name, *raw)
		if err != nil {
			fmt.Fprintf(stderr, "simrun serve: %v\n", err)
			_ = srv.Close()
			return exitUsage
		}
		fmt.Fprintf(stdout, "keyspace %s id %d\n", name, m.GetId())
	}
	keys := "transactional (memcomparable-encoded) region boundaries"
	switch {
	case cfg.Cluster.APIVersion == kvrpcpb.APIVersion_V2:
		keys = "API V2 (keyspace-prefixed keys)"
	case *raw:
		keys = "raw region boundaries"
	}
	fmt.Fprintf(stdout, "pd      %s\n", srv.PDAddr())
	for i, a := range srv.StoreAddrs() {
		fmt.Fprintf(stdout, "store%-2d %s\n", i+1, a)
	}
	fmt.Fprintf(stdout, "ready in %v, %s; type an action (help lists them), quit or Ctrl-C stops\n",
		time.Since(began).Round(time.Millisecond), keys)

	lines, done := make(chan string), make(chan struct{})
	defer close(done)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
		close(lines)
	}()
	for quit := false; !quit; {
		select {
		case <-ctx.Done():
			quit = true
		case line, ok := <-lines:
			if !ok {
				lines = nil // stdin closed: keep serving until a signal
				continue
			}
			quit = serveCommand(srv, strings.TrimSpace(line), stdout)
		}
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "simrun serve: the cluster failed: %v\n", err)
		return exitRun
	}
	fmt.Fprintln(stdout, "stopped")
	return exitValid
}

// serveCommand runs one stdin line and reports whether it asked to quit.
func serveCommand(srv *serve.Server, line string, out io.Writer) bool {
	switch line {
	case "":
		return false
	case "quit", "exit":
		return true
	case "help":
		fmt.Fprintln(out, serve.Help+"\n  keyspace NAME [raw] create a keyspace (transactional region bounds unless raw)"+
			"\n  regions             print the region layout\n  quit                stop serving")
		return false
	case "regions":
		r, err := srv.Regions()
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		} else {
			fmt.Fprintln(out, r)
		}
		return false
	}
	if f := strings.Fields(line); len(f) > 0 && f[0] == "keyspace" {
		if len(f) < 2 || len(f) > 3 || (len(f) == 3 && f[2] != "raw") {
			fmt.Fprintln(out, "error: want keyspace NAME [raw]")
			return false
		}
		m, err := srv.CreateKeyspace(f[1], len(f) == 3)
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		} else {
			fmt.Fprintf(out, "keyspace %s id %d\n", f[1], m.GetId())
		}
		return false
	}
	r, err := srv.Do(line)
	if err != nil {
		fmt.Fprintf(out, "error: %v (help lists the actions)\n", err)
	} else {
		fmt.Fprintln(out, r)
	}
	return false
}
