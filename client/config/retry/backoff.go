package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// Clock is what a Backoffer needs from the runtime; rt.Clock satisfies it.
type Clock interface {
	// Now stamps the recorded errors.
	Now() time.Time
	// Sleep waits d or until ctx is done, then returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// Env is where a Backoffer gets time and randomness.
type Env struct {
	// Clock is required by every Backoffer that sleeps.
	Clock Clock
	// Rand is the jitter source, from rt.Runtime.NewRand; required for
	// every config with jitter. A Backoffer and
	// its clones are not safe for concurrent use; each Clone and Fork gets
	// its own source seeded from this one.
	Rand *rand.Rand
	// Vars may be nil for DefaultVars.
	Vars *Vars
	// Observe, when set, is called after every completed sleep with the
	// config and the time slept: the hook for backoff metrics and traces
	// (client-go observes a Prometheus histogram per config).
	Observe func(cfg *Config, slept time.Duration)
}

// MaxRecordBackoffErrCount is how many of the latest errors a Backoffer keeps
// for its budget error.
const MaxRecordBackoffErrCount = 3

// BackoffErr is one error a Backoffer slept for, with when it happened.
type BackoffErr struct {
	Reason string
	Time   time.Time
}

// Error renders "<reason> at <RFC3339Nano time>".
func (e BackoffErr) Error() string {
	return fmt.Sprintf("%s at %s", e.Reason, e.Time.Format(time.RFC3339Nano))
}

// Backoffer sleeps between the retries of one logical operation and enforces
// its total sleep budget. It is not safe for concurrent use: give each
// concurrent sub-task a Clone or a Fork.
type Backoffer struct {
	ctx  context.Context
	env  Env
	vars *Vars
	noop bool

	sched         map[string]*Schedule
	maxSleep      int
	totalSleep    int
	excludedSleep int

	errs    [MaxRecordBackoffErrCount]BackoffErr // ring of the latest errors
	errsNum int

	configs []*Config
	sleepMS map[string]int
	times   map[string]int
	parent  *Backoffer
}

// NewBackoffer returns a Backoffer for ctx with a budget of maxSleepMs
// milliseconds of sleep, multiplied by Vars.BackOffWeight (client-go's
// NewBackofferWithVars). A budget of 0 is unlimited.
func NewBackoffer(ctx context.Context, maxSleepMs int, env Env) *Backoffer {
	b := &Backoffer{ctx: ctx, env: env, maxSleep: maxSleepMs}
	b.setVars(env.Vars)
	return b
}

// NewNoopBackoff returns a Backoffer that never sleeps: Backoff returns the
// error it is given.
func NewNoopBackoff(ctx context.Context) *Backoffer {
	return &Backoffer{ctx: ctx, noop: true, vars: DefaultVars()}
}

func (b *Backoffer) setVars(v *Vars) {
	if v == nil {
		v = DefaultVars()
	}
	b.vars = v
	if w := v.BackOffWeight; b.maxSleep > 0 && w > 0 && math.MaxInt32/w >= b.maxSleep {
		b.maxSleep *= w
	}
}

// Backoff sleeps as cfg says for the next attempt and records err. It
// returns nil when the caller should retry, and an error when it should give
// up: err itself if the context is done (before or during the sleep) or err
// says the cluster ID mismatches, a *BudgetExceededError if the budget is
// spent, or tikverr.ErrQueryInterruptedWithSignal if Vars.Killed is set.
func (b *Backoffer) Backoff(cfg *Config, err error) error {
	return b.BackoffWithCfgAndMaxSleep(cfg, -1, err)
}

// BackoffWithMaxSleepTxnLockFast is Backoff with BoTxnLockFast, sleeping at
// most maxSleepMs this time.
func (b *Backoffer) BackoffWithMaxSleepTxnLockFast(maxSleepMs int, err error) error {
	return b.BackoffWithCfgAndMaxSleep(BoTxnLockFast, maxSleepMs, err)
}

// BackoffWithCfgAndMaxSleep is Backoff sleeping at most maxSleepMs this time
// when maxSleepMs >= 0. The schedule still advances by its uncapped value.
func (b *Backoffer) BackoffWithCfgAndMaxSleep(cfg *Config, maxSleepMs int, err error) error {
	if err == nil { // a caller bug; record something readable instead of crashing
		err = fmt.Errorf("%s: backoff without an error", cfg.name)
	}
	if strings.Contains(err.Error(), tikverr.MismatchClusterID) {
		// client-go exits the process here; a library must not.
		return err
	}
	if b.ctx.Err() != nil || b.noop {
		return err
	}
	if exceeded := b.checkBudget(cfg, err); exceeded != nil {
		return exceeded
	}
	b.appendErr(err)
	b.configs = append(b.configs, cfg)
	s := b.schedule(cfg)
	sleep := s.Next(b.env.Rand)
	slept := sleep
	if maxSleepMs >= 0 && slept > maxSleepMs {
		slept = maxSleepMs
	}
	if b.env.Clock.Sleep(b.ctx, time.Duration(slept)*time.Millisecond) != nil {
		return err
	}
	s.Advance(sleep)
	b.record(cfg, slept)
	if b.env.Observe != nil {
		b.env.Observe(cfg, time.Duration(slept)*time.Millisecond)
	}
	return b.CheckKilled()
}

func (b *Backoffer) schedule(cfg *Config) *Schedule {
	if b.sched == nil {
		b.sched = make(map[string]*Schedule)
	}
	s, ok := b.sched[cfg.name]
	if !ok {
		fn := cfg.fn
		if cfg.name == txnLockFastName {
			fn.Base = b.vars.BackoffLockFast
		}
		sc := NewSchedule(fn)
		s = &sc
		b.sched[cfg.name] = s
	}
	return s
}

func (b *Backoffer) record(cfg *Config, sleep int) {
	b.totalSleep += sleep
	if cfg.excludedLimit > 0 {
		b.excludedSleep += sleep
	}
	if b.sleepMS == nil {
		b.sleepMS = make(map[string]int)
		b.times = make(map[string]int)
	}
	b.sleepMS[cfg.name] += sleep
	b.times[cfg.name]++
}

// checkBudget returns the budget error if the next sleep of cfg must not
// happen (client-go BackoffWithCfgAndMaxSleep).
func (b *Backoffer) checkBudget(cfg *Config, err error) error {
	if b.maxSleep <= 0 {
		return nil
	}
	overBudget := b.totalSleep-b.excludedSleep >= b.maxSleep
	overExcluded := cfg.excludedLimit > 0 && b.excludedSleep >= cfg.excludedLimit && b.excludedSleep >= b.maxSleep
	if !overBudget && !overExcluded {
		return nil
	}
	e := &BudgetExceededError{
		Config:             cfg.name,
		MaxSleep:           b.maxSleep,
		Errors:             b.latestErrors(),
		Times:              b.GetBackoffTimes(),
		OverBudget:         overBudget,
		OverExcludedBudget: overExcluded,
		Err:                err,
	}
	if longest, ms := b.longestSleepCfg(); longest != nil {
		e.Longest, e.LongestSleep, e.Err = longest.name, ms, longest.err
	}
	return e
}

// BudgetExceededError is returned by Backoff when the Backoffer's budget is
// spent. It unwraps to the error of the config that slept the longest (not
// counting budget-excluded ones), or to the error passed to the failing
// Backoff call if none slept.
type BudgetExceededError struct {
	// Config is the config of the call that was refused.
	Config string
	// MaxSleep is the budget in ms (after the weight).
	MaxSleep int
	// Errors are the latest errors slept for, oldest first.
	Errors []BackoffErr
	// Times counts the sleeps per config name.
	Times map[string]int
	// Longest names the config that slept the longest, "" if none.
	Longest string
	// LongestSleep is its total sleep in ms.
	LongestSleep int
	// OverBudget and OverExcludedBudget say which limit was hit.
	OverBudget, OverExcludedBudget bool
	// Err is what the error unwraps to.
	Err error
}

// Error implements the error interface.
func (e *BudgetExceededError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s backoffer.maxSleep %dms is exceeded, errors:", e.Config, e.MaxSleep)
	for _, be := range e.Errors {
		sb.WriteString("\n" + be.Error())
	}
	names := make([]string, 0, len(e.Times))
	total := 0
	for name, n := range e.Times {
		names = append(names, name)
		total += n
	}
	slices.Sort(names)
	detail := make([]string, len(names))
	for i, name := range names {
		detail[i] = fmt.Sprintf("%s:%d", name, e.Times[name])
	}
	fmt.Fprintf(&sb, "\ntotal-backoff-times: %d, backoff-detail: %s, maxBackoffTimeExceeded: %v, maxExcludedTimeExceeded: %v",
		total, strings.Join(detail, ", "), e.OverBudget, e.OverExcludedBudget)
	if e.Longest != "" {
		fmt.Fprintf(&sb, "\nlongest sleep type: %s, time: %dms", e.Longest, e.LongestSleep)
	}
	return sb.String()
}

// Unwrap returns Err.
func (e *BudgetExceededError) Unwrap() error { return e.Err }

func (b *Backoffer) appendErr(err error) {
	b.errs[b.errsNum%MaxRecordBackoffErrCount] = BackoffErr{Reason: err.Error(), Time: b.env.Clock.Now()}
	b.errsNum++
}

// latestErrors returns up to MaxRecordBackoffErrCount latest errors, oldest
// first, in a new slice.
func (b *Backoffer) latestErrors() []BackoffErr {
	n := min(b.errsNum, MaxRecordBackoffErrCount)
	out := make([]BackoffErr, n)
	first := 0
	if b.errsNum > MaxRecordBackoffErrCount {
		first = b.errsNum % MaxRecordBackoffErrCount
	}
	for i := range out {
		out[i] = b.errs[(first+i)%MaxRecordBackoffErrCount]
	}
	return out
}

// longestSleepCfg returns the non-excluded config with the most total sleep.
// Ties go to the config recorded first, so the result never depends on map
// order.
func (b *Backoffer) longestSleepCfg() (*Config, int) {
	var best *Config
	bestMS := 0
	seen := map[string]bool{}
	for _, cfg := range b.configs {
		if seen[cfg.name] || cfg.excludedLimit > 0 {
			continue
		}
		seen[cfg.name] = true
		if ms := b.sleepMS[cfg.name]; ms > bestMS {
			best, bestMS = cfg, ms
		}
	}
	return best, bestMS
}

// CheckKilled returns tikverr.ErrQueryInterruptedWithSignal if Vars.Killed
// is set.
func (b *Backoffer) CheckKilled() error {
	if b.vars != nil && b.vars.Killed != nil {
		if sig := atomic.LoadUint32(b.vars.Killed); sig != 0 {
			return tikverr.ErrQueryInterruptedWithSignal{Signal: sig}
		}
	}
	return nil
}

// String is " backoff(<total>ms [<configs>])", or "" if it never slept.
func (b *Backoffer) String() string {
	if b.totalSleep == 0 {
		return ""
	}
	return fmt.Sprintf(" backoff(%dms %v)", b.totalSleep, b.configs)
}

// Clone returns a Backoffer with a copy of b's sleep totals, errors and
// counters, the same context and parent, fresh schedules, and its own jitter
// source seeded from b's.
func (b *Backoffer) Clone() *Backoffer {
	c := b.copyState()
	c.ctx, c.parent = b.ctx, b.parent
	return c
}

// Fork is Clone with a child context of b's and b as the parent; cancel the
// returned func when the fork is done. Merge the fork's totals back with
// UpdateUsingForked.
func (b *Backoffer) Fork() (*Backoffer, context.CancelFunc) {
	c := b.copyState()
	var cancel context.CancelFunc
	c.ctx, cancel = context.WithCancel(b.ctx)
	c.parent = b
	return c, cancel
}

func (b *Backoffer) copyState() *Backoffer {
	c := &Backoffer{
		env:           b.env,
		vars:          b.vars,
		noop:          b.noop,
		maxSleep:      b.maxSleep,
		totalSleep:    b.totalSleep,
		excludedSleep: b.excludedSleep,
		errs:          b.errs,
		errsNum:       b.errsNum,
		configs:       slices.Clone(b.configs),
		sleepMS:       cloneMap(b.sleepMS),
		times:         cloneMap(b.times),
	}
	if b.env.Rand != nil {
		c.env.Rand = rand.New(rand.NewPCG(b.env.Rand.Uint64(), b.env.Rand.Uint64()))
	}
	return c
}

func cloneMap(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// UpdateUsingForked copies the totals, errors and counters of forked into b
// if b is one of forked's ancestors. forked must not be used afterwards: b
// takes over its maps.
func (b *Backoffer) UpdateUsingForked(forked *Backoffer) {
	if forked == nil {
		return
	}
	for p := forked.parent; p != nil; p = p.parent {
		if p == b {
			b.totalSleep, b.excludedSleep = forked.totalSleep, forked.excludedSleep
			b.errs, b.errsNum = forked.errs, forked.errsNum
			b.sleepMS, b.times = forked.sleepMS, forked.times
			return
		}
	}
}

// GetVars returns the Vars in use.
func (b *Backoffer) GetVars() *Vars { return b.vars }

// GetTotalSleep returns the total ms slept.
func (b *Backoffer) GetTotalSleep() int { return b.totalSleep }

// GetTypes returns the names of the configs slept for by b and then by each
// of its ancestors.
func (b *Backoffer) GetTypes() []string {
	var out []string
	for ; b != nil; b = b.parent {
		for _, cfg := range b.configs {
			out = append(out, cfg.name)
		}
	}
	return out
}

// GetCtx returns the context.
func (b *Backoffer) GetCtx() context.Context { return b.ctx }

// SetCtx replaces the context.
func (b *Backoffer) SetCtx(ctx context.Context) { b.ctx = ctx }

// GetBackoffTimes returns a copy of the sleep counts per config name.
func (b *Backoffer) GetBackoffTimes() map[string]int { return cloneMap(b.times) }

// GetTotalBackoffTimes returns the number of sleeps.
func (b *Backoffer) GetTotalBackoffTimes() int {
	n := 0
	for _, v := range b.times {
		n += v
	}
	return n
}

// GetBackoffSleepMS returns a copy of the ms slept per config name.
func (b *Backoffer) GetBackoffSleepMS() map[string]int { return cloneMap(b.sleepMS) }

// ErrorsNum returns how many errors were recorded in total.
func (b *Backoffer) ErrorsNum() int { return b.errsNum }

// Reset restarts the schedules and the budget accounting, keeping the
// counters and errors (one Backoffer can span several stages).
func (b *Backoffer) Reset() {
	b.sched = nil
	b.totalSleep = 0
	b.excludedSleep = 0
}

// ResetMaxSleep is Reset with a new budget (weighted as in NewBackoffer).
func (b *Backoffer) ResetMaxSleep(maxSleepMs int) {
	b.Reset()
	b.maxSleep = maxSleepMs
	b.setVars(b.vars)
}

// IsFakeRegionError reports whether err is an EpochNotMatch without current
// regions, which TiKV sends when it cannot tell the new epoch.
func IsFakeRegionError(err *errorpb.Error) bool {
	return err.GetEpochNotMatch() != nil && len(err.GetEpochNotMatch().CurrentRegions) == 0
}

// MayBackoffForRegionError backs off with BoRegionMiss for every region
// error except a real EpochNotMatch (which carries the new regions, so the
// caller can retry at once). It returns Backoff's result, or nil.
func MayBackoffForRegionError(regionErr *errorpb.Error, b *Backoffer) error {
	if regionErr == nil {
		return nil
	}
	if regionErr.GetEpochNotMatch() == nil || IsFakeRegionError(regionErr) {
		return b.Backoff(BoRegionMiss, errors.New(regionErr.String()))
	}
	return nil
}
