// Package retry owns the client's backoff policy: the named backoff
// configurations (BoTiKVRPC, BoRegionMiss, BoTxnLock, ...), the exponential
// schedules with their jitter kinds, and the Backoffer that sleeps between
// retries within a total budget and reports the errors it saw when the budget
// runs out.
//
// It mirrors client-go config/retry (backoff.go, config.go) with three
// differences that make it deterministic and testable:
//
//   - Time and randomness are passed in: a Backoffer sleeps on a Clock (an
//     rt.Clock satisfies it) and draws jitter from a *rand.Rand the caller
//     got from rt.Runtime.NewRand. Nothing reads the wall clock or a global
//     PRNG.
//   - The schedule (Schedule) is a pure value: Next computes a sleep from the
//     attempt count and a PRNG, so schedules are unit-tested without sleeping.
//   - The budget error is a typed *BudgetExceededError that carries what
//     client-go only logs (the latest errors, per-config counts, the longest
//     sleeper) and unwraps to the longest sleeper's error, so
//     errors.Is(err, tikverr.ErrRegionUnavailable) works as in client-go.
//
// Durations are whole milliseconds (int), as in client-go, because the
// schedules and budgets are specified that way.
package retry

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tikvsim/tikvsim/client/tikverr"
)

// Jitter selects how a Schedule randomizes its exponential sleeps
// (see https://www.awsarchitectureblog.com/2015/03/backoff.html).
type Jitter int

// The jitter kinds, numbered as in client-go.
const (
	// NoJitter sleeps exactly min(cap, base*2^attempt).
	NoJitter Jitter = 1 + iota
	// FullJitter sleeps a uniform value in [0, min(cap, base*2^attempt)).
	FullJitter
	// EqualJitter sleeps half the exponential value plus a uniform value in
	// [0, half), so never less than half.
	EqualJitter
	// DecorrJitter sleeps min(cap, base + uniform[0, 3*last-base)), growing
	// with the previous sleep rather than with the attempt count.
	DecorrJitter
)

// String implements fmt.Stringer.
func (j Jitter) String() string {
	switch j {
	case NoJitter:
		return "no"
	case FullJitter:
		return "full"
	case EqualJitter:
		return "equal"
	case DecorrJitter:
		return "decorr"
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

// BackoffFnCfg is the shape of one exponential schedule: base and cap in
// milliseconds, and the jitter kind.
type BackoffFnCfg struct {
	Base   int
	Cap    int
	Jitter Jitter
}

// NewBackoffFnCfg returns a BackoffFnCfg.
func NewBackoffFnCfg(base, cap int, jitter Jitter) BackoffFnCfg {
	return BackoffFnCfg{Base: base, Cap: cap, Jitter: jitter}
}

// Config is a named kind of backoff: the schedule to follow and the error
// to report when the budget runs out and this kind slept the longest. A
// Config is immutable; the With* methods return modified copies.
type Config struct {
	name string
	fn   BackoffFnCfg
	err  error
	// excludedLimit > 0 means sleeps of this kind do not count against the
	// Backoffer's budget, up to excludedLimit ms of them in total.
	excludedLimit int
}

// NewConfig returns a Config named name.
func NewConfig(name string, fn BackoffFnCfg, err error) *Config {
	return &Config{name: name, fn: fn, err: err}
}

// String returns the name, used in metrics, logs and errors.
func (c *Config) String() string { return c.name }

// Base returns the base sleep in milliseconds.
func (c *Config) Base() int { return c.fn.Base }

// FnCfg returns the schedule shape.
func (c *Config) FnCfg() BackoffFnCfg { return c.fn }

// Err returns the error reported when this config exhausts the budget.
func (c *Config) Err() error { return c.err }

// ExcludedLimit returns the total milliseconds of this config's sleeps that
// are excluded from the budget, 0 if none are.
func (c *Config) ExcludedLimit() int { return c.excludedLimit }

// WithErr returns a copy of c reporting err (client-go's SetErrors).
func (c *Config) WithErr(err error) *Config {
	cp := *c
	cp.err = err
	return &cp
}

// WithFnCfg returns a copy of c with another schedule (client-go's
// SetBackoffFnCfg).
func (c *Config) WithFnCfg(fn BackoffFnCfg) *Config {
	cp := *c
	cp.fn = fn
	return &cp
}

// WithExcludedLimit returns a copy of c whose sleeps are excluded from the
// budget up to limitMs in total (0 turns exclusion off).
func (c *Config) WithExcludedLimit(limitMs int) *Config {
	cp := *c
	cp.excludedLimit = limitMs
	return &cp
}

const txnLockFastName = "txnLockFast"

// The named configurations, with client-go's names, schedules and errors
// (config/retry/config.go). BoTxnLockFast's base is replaced by
// Vars.BackoffLockFast when a Backoffer uses it. BoTiKVServerBusy sleeps are
// excluded from the budget up to 10 minutes.
var (
	BoTiKVRPC                  = NewConfig("tikvRPC", NewBackoffFnCfg(100, 2000, EqualJitter), tikverr.ErrTiKVServerTimeout)
	BoTiFlashRPC               = NewConfig("tiflashRPC", NewBackoffFnCfg(100, 2000, EqualJitter), tikverr.ErrTiFlashServerTimeout)
	BoTxnLock                  = NewConfig("txnLock", NewBackoffFnCfg(100, 3000, EqualJitter), tikverr.ErrResolveLockTimeout)
	BoPDRPC                    = NewConfig("pdRPC", NewBackoffFnCfg(500, 3000, EqualJitter), tikverr.NewErrPDServerTimeout(""))
	BoRegionMiss               = NewConfig("regionMiss", NewBackoffFnCfg(2, 500, NoJitter), tikverr.ErrRegionUnavailable)
	BoRegionScheduling         = NewConfig("regionScheduling", NewBackoffFnCfg(2, 500, NoJitter), tikverr.ErrRegionUnavailable)
	BoTiKVServerBusy           = NewConfig("tikvServerBusy", NewBackoffFnCfg(2000, 10000, EqualJitter), tikverr.ErrTiKVServerBusy).WithExcludedLimit(600000)
	BoTiKVDiskFull             = NewConfig("tikvDiskFull", NewBackoffFnCfg(500, 5000, NoJitter), tikverr.ErrTiKVDiskFull)
	BoRegionRecoveryInProgress = NewConfig("regionRecoveryInProgress", NewBackoffFnCfg(100, 10000, EqualJitter), tikverr.ErrRegionRecoveryInProgress)
	BoTiFlashServerBusy        = NewConfig("tiflashServerBusy", NewBackoffFnCfg(2000, 10000, EqualJitter), tikverr.ErrTiFlashServerBusy)
	BoTxnNotFound              = NewConfig("txnNotFound", NewBackoffFnCfg(2, 500, NoJitter), tikverr.ErrResolveLockTimeout)
	BoStaleCmd                 = NewConfig("staleCommand", NewBackoffFnCfg(2, 1000, NoJitter), tikverr.ErrTiKVStaleCommand)
	BoMaxTsNotSynced           = NewConfig("maxTsNotSynced", NewBackoffFnCfg(2, 500, NoJitter), tikverr.ErrTiKVMaxTimestampNotSynced)
	// BoMaxDataNotReady was removed from client-go (#1423: stale reads fall
	// back to the leader instead of backing off); kept, unused by the
	// request sender, for callers that want to wait for safe ts.
	BoMaxDataNotReady         = NewConfig("dataNotReady", NewBackoffFnCfg(2, 2000, NoJitter), tikverr.ErrRegionDataNotReady)
	BoCommitTSLag             = NewConfig("commitTSLag", NewBackoffFnCfg(2, 500, NoJitter), tikverr.ErrCommitTSLag)
	BoMaxRegionNotInitialized = NewConfig("regionNotInitialized", NewBackoffFnCfg(2, 1000, NoJitter), tikverr.ErrRegionNotInitialized)
	BoIsWitness               = NewConfig("isWitness", NewBackoffFnCfg(1000, 10000, EqualJitter), tikverr.ErrIsWitness)
	BoTxnLockFast             = NewConfig(txnLockFastName, NewBackoffFnCfg(2, 3000, EqualJitter), tikverr.ErrResolveLockTimeout)
)

// Vars are the per-session knobs of backoff (client-go kv.Variables).
type Vars struct {
	// BackoffLockFast is BoTxnLockFast's base in milliseconds.
	BackoffLockFast int
	// BackOffWeight multiplies every Backoffer's budget.
	BackOffWeight int
	// Killed, when non-nil and non-zero, stops the Backoffer after its
	// current sleep with tikverr.ErrQueryInterruptedWithSignal.
	Killed *uint32
}

// Defaults of Vars, as in client-go kv/variables.go.
const (
	DefBackoffLockFast = 10
	DefBackOffWeight   = 2
)

// DefaultVars returns a fresh Vars with the defaults and no kill flag.
func DefaultVars() *Vars {
	return &Vars{BackoffLockFast: DefBackoffLockFast, BackOffWeight: DefBackOffWeight}
}

// Schedule is the pure state of one exponential backoff sequence: which
// attempt comes next and the previous sleep. Its zero value is not usable;
// build one with NewSchedule.
type Schedule struct {
	base, cap int
	jitter    Jitter
	attempts  int
	last      int
}

// NewSchedule starts a schedule. A base below 2 is raised to 2 (as in
// client-go, so the jitter ranges are never empty).
func NewSchedule(fn BackoffFnCfg) Schedule {
	base := max(fn.Base, 2)
	return Schedule{base: base, cap: fn.Cap, jitter: fn.Jitter, last: base}
}

// Attempts returns how many sleeps were recorded with Advance.
func (s *Schedule) Attempts() int { return s.attempts }

// Next returns the sleep, in ms, of the next attempt, drawing jitter from
// rng. It does not change s: call Advance once the sleep really happened.
func (s *Schedule) Next(rng *rand.Rand) int {
	switch s.jitter {
	case FullJitter:
		return rng.IntN(expo(s.base, s.cap, s.attempts))
	case EqualJitter:
		v := expo(s.base, s.cap, s.attempts)
		return v/2 + rng.IntN(max(v/2, 1))
	case DecorrJitter:
		return min(s.cap, s.base+rng.IntN(max(s.last*3-s.base, 1)))
	default:
		return expo(s.base, s.cap, s.attempts)
	}
}

// Advance records that the attempt slept sleep ms (the value Next returned,
// before any per-call cap).
func (s *Schedule) Advance(sleep int) {
	s.attempts++
	s.last = sleep
}

// expo is min(cap, base*2^n) without overflow.
func expo(base, cap, n int) int {
	v := base
	for range n {
		if v >= cap || v > math.MaxInt/2 {
			break
		}
		v *= 2
	}
	return min(v, cap)
}
