package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

var namedConfigs = map[string]*Config{}

func init() {
	for _, c := range []*Config{BoTiKVRPC, BoTiFlashRPC, BoTxnLock, BoPDRPC, BoRegionMiss, BoRegionScheduling,
		BoTiKVServerBusy, BoTiKVDiskFull, BoRegionRecoveryInProgress, BoTiFlashServerBusy, BoTxnNotFound,
		BoStaleCmd, BoMaxTsNotSynced, BoMaxDataNotReady, BoCommitTSLag, BoMaxRegionNotInitialized, BoIsWitness,
		BoTxnLockFast} {
		namedConfigs[c.name] = c
	}
}

// ddEnv is one script's state: a stack of Backoffers, the top one current.
type ddEnv struct {
	clk   *fakeClock
	stack []*Backoffer
}

func (e *ddEnv) cur(t *testing.T, d *datadriven.TestData) *Backoffer {
	if len(e.stack) == 0 {
		t.Fatalf("%s: no backoffer; use new", d.Pos)
	}
	return e.stack[len(e.stack)-1]
}

func ddInt(t *testing.T, d *datadriven.TestData, key string, def int) int {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			v, err := strconv.Atoi(a.Vals[0])
			if err != nil {
				t.Fatalf("%s: bad %s: %v", d.Pos, key, err)
			}
			return v
		}
	}
	return def
}

func ddStr(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

func parseJitter(t *testing.T, s string) Jitter {
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, DecorrJitter} {
		if j.String() == s {
			return j
		}
	}
	t.Fatalf("unknown jitter %q", s)
	return 0
}

// TestBackoffDatadriven runs the backoff schedule scripts in testdata/.
func TestBackoffDatadriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := &ddEnv{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return env.handle(t, d)
		})
	})
}

func (e *ddEnv) handle(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "schedule":
		// Example: schedule base=2 cap=500 jitter=no n=10 seed=1
		// Prints the first n sleeps (ms) of a fresh schedule.
		s := NewSchedule(NewBackoffFnCfg(ddInt(t, d, "base", 2), ddInt(t, d, "cap", 500),
			parseJitter(t, ddStr(d, "jitter", "no"))))
		seed := uint64(ddInt(t, d, "seed", 1))
		rng := rand.New(rand.NewPCG(seed, seed))
		var out []string
		for range ddInt(t, d, "n", 10) {
			v := s.Next(rng)
			s.Advance(v)
			out = append(out, strconv.Itoa(v))
		}
		return strings.Join(out, " ") + "\n"

	case "new":
		// Example: new max=800 seed=1 [weight=2] [lockfast=10]
		// Starts a fresh Backoffer (dropping any stack) with a budget of max ms.
		seed := uint64(ddInt(t, d, "seed", 1))
		e.clk = newFakeClock()
		vars := &Vars{BackoffLockFast: ddInt(t, d, "lockfast", DefBackoffLockFast), BackOffWeight: ddInt(t, d, "weight", DefBackOffWeight)}
		b := NewBackoffer(context.Background(), ddInt(t, d, "max", 0), Env{Clock: e.clk, Rand: rand.New(rand.NewPCG(seed, seed)), Vars: vars})
		e.stack = []*Backoffer{b}
		return fmt.Sprintf("budget %dms\n", b.maxSleep)

	case "backoff":
		// Example: backoff cfg=regionMiss [n=3] [max-sleep=5] [excluded=1]
		// Backs off n times with cfg, one line per call; stops at an error.
		cfg, ok := namedConfigs[ddStr(d, "cfg", "")]
		if !ok {
			t.Fatalf("%s: unknown cfg %q", d.Pos, ddStr(d, "cfg", ""))
		}
		if ex := ddInt(t, d, "excluded", -1); ex >= 0 {
			cfg = cfg.WithExcludedLimit(ex)
		}
		b := e.cur(t, d)
		var sb strings.Builder
		for i := range ddInt(t, d, "n", 1) {
			before := b.totalSleep
			err := b.BackoffWithCfgAndMaxSleep(cfg, ddInt(t, d, "max-sleep", -1), fmt.Errorf("%s #%d", cfg.name, i+1))
			if err != nil {
				fmt.Fprintf(&sb, "error: %v\n", errLine(err))
				break
			}
			fmt.Fprintf(&sb, "%s: slept %dms (total %dms, excluded %dms)\n", cfg.name, b.totalSleep-before, b.totalSleep, b.excludedSleep)
		}
		return sb.String()

	case "fork", "clone":
		// Example: fork
		// Pushes a Fork (or Clone) of the current Backoffer.
		b := e.cur(t, d)
		var c *Backoffer
		if d.Cmd == "fork" {
			c, _ = b.Fork()
		} else {
			c = b.Clone()
		}
		e.stack = append(e.stack, c)
		return fmt.Sprintf("depth %d\n", len(e.stack))

	case "join":
		// Example: join
		// Pops the current Backoffer and merges it into the one below with
		// UpdateUsingForked (a no-op for a clone).
		if len(e.stack) < 2 {
			t.Fatalf("%s: nothing to join", d.Pos)
		}
		c := e.stack[len(e.stack)-1]
		e.stack = e.stack[:len(e.stack)-1]
		e.stack[len(e.stack)-1].UpdateUsingForked(c)
		return fmt.Sprintf("depth %d\n", len(e.stack))

	case "state":
		// Example: state
		// Prints the current Backoffer's accounting.
		b := e.cur(t, d)
		times := b.GetBackoffTimes()
		names := make([]string, 0, len(times))
		for n := range times {
			names = append(names, n)
		}
		slices.Sort(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s:%d/%dms", n, times[n], b.sleepMS[n]))
		}
		return fmt.Sprintf("total %dms excluded %dms budget %dms errors %d types [%s]\ncounts [%s]\n",
			b.totalSleep, b.excludedSleep, b.maxSleep, b.errsNum, strings.Join(b.GetTypes(), " "), strings.Join(parts, " "))
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

// errLine prints an error on one line with what it unwraps to.
func errLine(err error) string {
	var be *BudgetExceededError
	if errors.As(err, &be) {
		return fmt.Sprintf("budget %dms exceeded at %s (longest %s %dms, over budget %v, over excluded %v) -> %v",
			be.MaxSleep, be.Config, be.Longest, be.LongestSleep, be.OverBudget, be.OverExcludedBudget, be.Err)
	}
	return err.Error()
}
