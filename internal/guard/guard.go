// Package guard enforces the determinism contract of docs/architecture.md on
// the source: non-test code under client/ and sim/ must not read the wall
// clock, start bare goroutines, use the global PRNG, or select over several
// channels, except in the few production-adapter files on the allow-list.
package guard

import (
	"fmt"
	"go/ast"
	"go/token"
	"strconv"
)

// Allowed lists the files (slash paths from the module root) that may break
// the rules, each with why.
var Allowed = map[string]string{
	"client/rt/real.go":                  "the production runtime: maps the Runtime contract onto the wall clock, goroutines and channel selects",
	"sim/task.go":                        "the kernel starts each simulated task's goroutine; it runs only while holding the scheduler's baton",
	"sim/harness/wall.go":                "measures a run's wall-clock duration for the wall_ms report field; never read by the run",
	"client/transport/grpc/conn.go":      "the gRPC transport's connection shell: send and receive loop goroutines, batch-wait timers and channel selects around the pure batching code",
	"client/transport/grpc/transport.go": "the gRPC transport's request path: per-request timeout timers, the select that waits for an answer, and the idle-connection sweep",
	"sim/realtime.go":                    "the kernel's real-time mode: virtual time follows the wall clock, the idle baton holder waits on a timer, injections or the run's context",
	"sim/serve/bridge.go":                "serve's bridge from gRPC goroutines into the real-time world: starts the world and server goroutines, waits on answer channels, reads the wall clock for default deadlines",
	"sim/watchdog.go":                    "the stall watchdog measures wall time to report a task stuck outside the scheduler; it never affects a run that progresses",
	"client/pd/pdclient/dial.go":         "the production PD adapter's shell: the pd client lives in a context cut loose from New's (context.AfterFunc links them until New returns), and a multi-timestamp TSO request has a per-attempt timeout",
}

// Violation is one broken rule.
type Violation struct {
	Pos  token.Position
	Rule string
}

func (v Violation) String() string { return fmt.Sprintf("%s: %s", v.Pos, v.Rule) }

var bannedTime = map[string]string{
	"Now": "clock.Now", "Since": "rt.Since", "Until": "Clock.Now().Sub", "Sleep": "Clock.Sleep",
	"After": "Clock.Sleep or rt.WithTimeout", "NewTimer": "Clock.AfterFunc", "NewTicker": "Clock.Sleep in a loop",
	"Tick": "Clock.Sleep in a loop", "AfterFunc": "Clock.AfterFunc",
}

var bannedContext = map[string]string{
	"WithTimeout": "rt.WithTimeout", "WithDeadline": "Clock.WithDeadline",
	"WithTimeoutCause": "rt.WithTimeout", "WithDeadlineCause": "Clock.WithDeadline",
	"AfterFunc": "an rt.Event (context.AfterFunc runs f on a bare goroutine)",
}

// allowedRand are the math/rand constructors: seeded sources are fine, the
// global functions are not.
var allowedRand = map[string]bool{"New": true, "NewPCG": true, "NewChaCha8": true, "NewSource": true, "NewZipf": true}

// Check returns the violations in one parsed file.
func Check(fset *token.FileSet, f *ast.File) []Violation {
	names := map[string]string{} // local import name -> import path
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path
		switch path {
		case "math/rand/v2":
			name = "rand"
		default:
			for i := len(path) - 1; i >= 0; i-- {
				if path[i] == '/' {
					name = path[i+1:]
					break
				}
			}
		}
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = path
	}
	var out []Violation
	add := func(n ast.Node, rule string) {
		out = append(out, Violation{fset.Position(n.Pos()), rule})
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			add(n, "bare go statement: use Runtime.Go")
		case *ast.SelectStmt:
			chans := 0
			for _, c := range n.Body.List {
				if cc, ok := c.(*ast.CommClause); ok && cc.Comm != nil {
					chans++
				}
			}
			if chans > 1 {
				add(n, fmt.Sprintf("select over %d channels: use Runtime.Select over rt.Events", chans))
			}
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok || id.Obj != nil {
				return true
			}
			switch names[id.Name] {
			case "time":
				if repl, bad := bannedTime[n.Sel.Name]; bad {
					add(n, fmt.Sprintf("time.%s reads the wall clock: use %s", n.Sel.Name, repl))
				}
			case "context":
				if repl, bad := bannedContext[n.Sel.Name]; bad {
					add(n, fmt.Sprintf("context.%s: use %s", n.Sel.Name, repl))
				}
			case "math/rand", "math/rand/v2":
				if !allowedRand[n.Sel.Name] && ast.IsExported(n.Sel.Name) && !isRandType(n.Sel.Name) {
					add(n, fmt.Sprintf("global rand.%s: take a source from Runtime.NewRand or the world's seed tree", n.Sel.Name))
				}
			case "crypto/rand":
				add(n, "crypto/rand is not reproducible: use a seeded source")
			}
		}
		return true
	})
	return out
}

func isRandType(name string) bool {
	switch name {
	case "Rand", "Source", "PCG", "ChaCha8", "Zipf":
		return true
	}
	return false
}
