// Package invariants holds the assertion helpers used by the simulator, the fake
// cluster and the checkers. Assertions are compiled in when the build carries the
// `invariants` tag (the Makefile always passes it, and simrun refuses to run
// without it) and compile to nothing otherwise, following pebble's
// internal/invariants package.
//
// An assertion failure panics with an *Error. Inside a simulation the kernel
// turns that panic into a failed run that names the seed and the trace tail.
package invariants

import "fmt"

// Error is the panic value of a failed assertion.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return "invariant violated: " + e.Msg }

// Assert panics with an *Error when cond is false and assertions are enabled.
// The message is formatted only on failure, so callers may pass arguments
// freely on hot paths.
func Assert(cond bool, format string, args ...any) {
	if Enabled && !cond {
		panic(&Error{Msg: fmt.Sprintf(format, args...)})
	}
}

// Fail panics with an *Error regardless of the build tag. Use it for states
// that must never be reached even in production builds.
func Fail(format string, args ...any) {
	panic(&Error{Msg: fmt.Sprintf(format, args...)})
}
