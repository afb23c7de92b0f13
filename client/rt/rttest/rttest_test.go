package rttest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/rt/rttest"
)

// TestSuitePassesOnReal runs the suite on the production runtime from the
// suite's own package (client/rt and sim/clock run it on theirs).
func TestSuitePassesOnReal(t *testing.T) {
	rttest.Suite(t, rttest.Harness{
		Short: 5 * time.Millisecond,
		Run:   func(t *testing.T, body func(rt.Runtime)) { body(rt.Real) },
	})
}

// earlyWaker is the production runtime with a bug: Sleep returns at once.
type earlyWaker struct{ rt.Runtime }

func (earlyWaker) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// TestBrokenRuntimeHelper runs the suite on earlyWaker; it only runs as the
// child of TestSuiteCatchesBrokenRuntime.
func TestBrokenRuntimeHelper(t *testing.T) {
	if os.Getenv("RTTEST_BROKEN_CHILD") != "1" {
		t.Skip("run by TestSuiteCatchesBrokenRuntime")
	}
	rttest.Suite(t, rttest.Harness{
		Short: 5 * time.Millisecond,
		Run:   func(t *testing.T, body func(rt.Runtime)) { body(earlyWaker{rt.Real}) },
	})
}

// TestSuiteCatchesBrokenRuntime: the suite fails a runtime whose Sleep
// returns early, naming the check (a conformance suite that cannot fail
// would prove nothing). The suite runs in a child process, since a failing
// subtest would fail this test.
func TestSuiteCatchesBrokenRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child test process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenRuntimeHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "RTTEST_BROKEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a runtime whose Sleep returns early:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestBrokenRuntimeHelper/SleepAndNow", "want >= 5ms"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "--- FAIL: TestBrokenRuntimeHelper/Rand") {
		t.Errorf("the Rand check failed although Sleep is the only bug:\n%s", out)
	}
}
