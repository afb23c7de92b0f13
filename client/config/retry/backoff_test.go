package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/stretchr/testify/require"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// fakeClock sleeps instantly, advancing its own time and recording sleeps.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
	// failAfter, when > 0, makes the failAfter-th sleep (1-based) report
	// the context error instead of sleeping, as a cancel during the sleep.
	failAfter int
}

var _ Clock = rt.Clock(nil) // an rt.Clock is a Clock

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1000, 0).UTC()} }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.failAfter > 0 && len(c.sleeps)+1 == c.failAfter {
		return context.Canceled
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func testEnv(seed uint64) (Env, *fakeClock) {
	clk := newFakeClock()
	return Env{Clock: clk, Rand: rand.New(rand.NewPCG(seed, seed))}, clk
}

func newTestBackoffer(ctx context.Context, maxSleep int) *Backoffer {
	env, _ := testEnv(1)
	return NewBackoffer(ctx, maxSleep, env)
}

// Port of client-go TestBackoffWithMax.
func TestBackoffWithMax(t *testing.T) {
	b := newTestBackoffer(context.Background(), 2000)
	require.NoError(t, b.BackoffWithMaxSleepTxnLockFast(5, errors.New("test")))
	require.Equal(t, 5, b.GetTotalSleep())
}

// Port of client-go TestBackoffErrorType.
func TestBackoffErrorType(t *testing.T) {
	b := newTestBackoffer(context.Background(), 800) // 1600ms after the weight
	require.NoError(t, b.Backoff(BoRegionMiss, errors.New("region miss")))
	for range 2 {
		require.NoError(t, b.Backoff(BoMaxRegionNotInitialized, errors.New("region not initialized")))
	}
	require.NoError(t, b.Backoff(BoRegionRecoveryInProgress, errors.New("recovery in progress")))
	// Server-busy sleeps do not count against the budget.
	require.NoError(t, b.Backoff(BoTiKVServerBusy, errors.New("server is busy")))
	require.NoError(t, b.Backoff(BoIsWitness, errors.New("peer is witness")))
	for range 15 {
		err := b.Backoff(BoTxnNotFound, errors.New("txn not found"))
		if err != nil {
			cfg, _ := b.longestSleepCfg()
			require.ErrorIs(t, err, cfg.err)
			var be *BudgetExceededError
			require.ErrorAs(t, err, &be)
			require.Equal(t, cfg.name, be.Longest)
			require.True(t, be.OverBudget)
			return
		}
	}
	t.Fatal("budget never exceeded")
}

func requireSameState(t *testing.T, b1, b2 *Backoffer) {
	t.Helper()
	require.Equal(t, b1.errs, b2.errs)
	require.Equal(t, b1.errsNum, b2.errsNum)
	require.Equal(t, b1.sleepMS, b2.sleepMS)
	require.Equal(t, b1.times, b2.times)
	require.Equal(t, b1.excludedSleep, b2.excludedSleep)
	require.Equal(t, b1.totalSleep, b2.totalSleep)
}

// Port of client-go TestBackoffDeepCopy.
func TestBackoffDeepCopy(t *testing.T) {
	b := newTestBackoffer(context.Background(), 4)
	for range 3 { // 2+4+8ms: the next Backoff exceeds the 8ms budget
		require.NoError(t, b.Backoff(BoMaxRegionNotInitialized, errors.New("region not initialized")))
	}
	forked, cancel := b.Fork()
	defer cancel()
	requireSameState(t, b, forked)
	cloned := b.Clone()
	requireSameState(t, b, cloned)
	for _, c := range []*Backoffer{forked, cloned} {
		require.ErrorIs(t, c.Backoff(BoTiKVRPC, errors.New("tikv rpc")), BoMaxRegionNotInitialized.err)
	}
	// Mutating a copy leaves the original alone.
	cloned.sleepMS["x"] = 1
	require.NotContains(t, b.sleepMS, "x")
}

// Port of client-go TestBackoffUpdateUsingFork.
func TestBackoffUpdateUsingFork(t *testing.T) {
	b := newTestBackoffer(context.Background(), 4)
	for range 3 {
		require.NoError(t, b.Backoff(BoMaxRegionNotInitialized, errors.New("region not initialized")))
	}
	forked, cancel := b.Fork()
	defer cancel()
	_ = forked.Backoff(BoTiKVRPC, errors.New("tikv rpc"))
	snapshot := forked.Clone()
	b.UpdateUsingForked(forked)
	requireSameState(t, b, snapshot)
	require.Nil(t, b.parent)

	// A Backoffer that is not an ancestor is left alone; nil is ignored.
	other := newTestBackoffer(context.Background(), 4)
	other.UpdateUsingForked(forked)
	other.UpdateUsingForked(nil)
	require.Zero(t, other.GetTotalSleep())
}

// Port of client-go TestBackoffWithMaxExcludedExceed (client-go mutates a
// global map; here the config carries its limit).
func TestBackoffWithMaxExcludedExceed(t *testing.T) {
	busy := BoTiKVServerBusy.WithExcludedLimit(1)
	b := newTestBackoffer(context.Background(), 1)
	require.NoError(t, b.Backoff(busy, errors.New("server is busy")))
	busyErr := errors.New("server is busy")
	err := b.Backoff(busy, busyErr)
	require.Error(t, err)
	var be *BudgetExceededError
	require.ErrorAs(t, err, &be)
	require.True(t, be.OverExcludedBudget)
	require.False(t, be.OverBudget)
	require.ErrorIs(t, err, busyErr, "no non-excluded sleeper: the call's own error")
	require.Greater(t, b.excludedSleep, b.maxSleep)
}

// Port of client-go TestMayBackoffForRegionError.
func TestMayBackoffForRegionError(t *testing.T) {
	epoch := &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{{Id: 1}}}}
	b := newTestBackoffer(context.Background(), 1)
	require.NoError(t, MayBackoffForRegionError(epoch, b))
	require.Zero(t, b.GetTotalSleep())
	require.NoError(t, MayBackoffForRegionError(nil, b))

	for _, regionErr := range []*errorpb.Error{
		{EpochNotMatch: &errorpb.EpochNotMatch{}}, // fake
		{NotLeader: &errorpb.NotLeader{}},
		{ServerIsBusy: &errorpb.ServerIsBusy{}},
		{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		b := newTestBackoffer(ctx, 1)
		require.NoError(t, MayBackoffForRegionError(regionErr, b), "%v", regionErr)
		require.Greater(t, b.GetTotalSleep(), 0)
		cancel()
		b = newTestBackoffer(ctx, 1)
		require.EqualError(t, MayBackoffForRegionError(regionErr, b), regionErr.String())
	}
}

// Port of client-go TestBackoffErrorsKeep.
func TestBackoffErrorsKeep(t *testing.T) {
	b := newTestBackoffer(context.Background(), 1000000)
	require.Zero(t, b.ErrorsNum())
	require.Empty(t, b.latestErrors())
	cfg := NewConfig("foo", NewBackoffFnCfg(1, 2, EqualJitter), tikverr.ErrTiKVServerTimeout)
	var errs []error
	for i := range 32 {
		errs = append(errs, fmt.Errorf("mockErr-%d", i))
		require.NoError(t, b.Backoff(cfg, errs[i]))
		require.Equal(t, len(errs), b.ErrorsNum())
		got := b.latestErrors()
		require.Len(t, got, min(len(errs), MaxRecordBackoffErrCount))
		start := len(errs) - len(got)
		for j, e := range got {
			require.Equal(t, errs[start+j].Error(), e.Reason)
			if j > 0 {
				require.False(t, e.Time.Before(got[j-1].Time), "oldest first")
			}
		}
	}
}

// Port of client-go TestBackoffError.
func TestBackoffError(t *testing.T) {
	err := BackoffErr{Reason: "mockErr", Time: time.Unix(3600*4+1234, 0).In(time.FixedZone("xx", 3*3600))}
	require.Equal(t, "mockErr at 1970-01-01T07:20:34+03:00", err.Error())
}

func TestBackoffStopsWhen(t *testing.T) {
	t.Run("cluster id mismatch", func(t *testing.T) {
		b := newTestBackoffer(context.Background(), 100)
		err := errors.New("rpc: " + tikverr.MismatchClusterID)
		require.Equal(t, err, b.Backoff(BoPDRPC, err))
		require.Zero(t, b.GetTotalSleep())
	})
	t.Run("nil error", func(t *testing.T) {
		b := newTestBackoffer(context.Background(), 100)
		require.NoError(t, b.Backoff(BoRegionMiss, nil))
		require.Equal(t, "regionMiss: backoff without an error", b.latestErrors()[0].Reason)
	})
	t.Run("noop", func(t *testing.T) {
		b := NewNoopBackoff(context.Background())
		err := errors.New("x")
		require.Equal(t, err, b.Backoff(BoRegionMiss, err))
		require.Equal(t, err, b.Clone().Backoff(BoRegionMiss, err))
	})
	t.Run("cancel during sleep", func(t *testing.T) {
		env, clk := testEnv(1)
		clk.failAfter = 2
		b := NewBackoffer(context.Background(), 100, env)
		require.NoError(t, b.Backoff(BoRegionMiss, errors.New("a")))
		err := errors.New("b")
		require.Equal(t, err, b.Backoff(BoRegionMiss, err))
		require.Equal(t, 2, b.GetTotalSleep(), "the interrupted sleep is not counted")
		require.Equal(t, 1, b.sched["regionMiss"].Attempts(), "nor does it advance the schedule")
	})
	t.Run("killed", func(t *testing.T) {
		var killed uint32
		env, _ := testEnv(1)
		env.Vars = &Vars{BackoffLockFast: 10, BackOffWeight: 2, Killed: &killed}
		b := NewBackoffer(context.Background(), 100, env)
		require.NoError(t, b.Backoff(BoRegionMiss, errors.New("a")))
		killed = 3
		err := b.Backoff(BoRegionMiss, errors.New("a"))
		require.ErrorIs(t, err, tikverr.ErrQueryInterrupted)
		require.Equal(t, tikverr.ErrQueryInterruptedWithSignal{Signal: 3}, err)
	})
}

func TestBackofferAccessors(t *testing.T) {
	ctx := context.Background()
	b := newTestBackoffer(ctx, 100)
	require.Equal(t, "", b.String())
	require.Equal(t, 200, b.maxSleep, "weighted")
	require.Equal(t, DefBackOffWeight, b.GetVars().BackOffWeight)
	require.NoError(t, b.Backoff(BoRegionMiss, errors.New("a")))
	require.NoError(t, b.Backoff(BoStaleCmd, errors.New("b")))
	require.Equal(t, " backoff(4ms [regionMiss staleCommand])", b.String())
	require.Equal(t, map[string]int{"regionMiss": 1, "staleCommand": 1}, b.GetBackoffTimes())
	require.Equal(t, map[string]int{"regionMiss": 2, "staleCommand": 2}, b.GetBackoffSleepMS())
	require.Equal(t, 2, b.GetTotalBackoffTimes())
	f, cancel := b.Fork()
	defer cancel()
	require.NoError(t, f.Backoff(BoTxnLock, errors.New("c")))
	require.Equal(t, []string{"regionMiss", "staleCommand", "txnLock", "regionMiss", "staleCommand"}, f.GetTypes())
	require.Equal(t, ctx, b.GetCtx())
	ctx2 := context.WithValue(ctx, struct{}{}, 1)
	b.SetCtx(ctx2)
	require.Equal(t, ctx2, b.GetCtx())

	b.Reset()
	require.Zero(t, b.GetTotalSleep())
	require.Equal(t, 2, b.GetTotalBackoffTimes(), "counters survive Reset")
	b.ResetMaxSleep(10)
	require.Equal(t, 20, b.maxSleep)
	require.NoError(t, b.Backoff(BoRegionMiss, errors.New("a")))
	require.Equal(t, 2, b.GetTotalSleep(), "schedules restart after Reset")
}

func TestConfigs(t *testing.T) {
	require.Equal(t, "regionMiss", BoRegionMiss.String())
	require.Equal(t, 2, BoRegionMiss.Base())
	require.Equal(t, NewBackoffFnCfg(2, 500, NoJitter), BoRegionMiss.FnCfg())
	require.Equal(t, tikverr.ErrRegionUnavailable, BoRegionMiss.Err())
	require.Equal(t, 600000, BoTiKVServerBusy.ExcludedLimit())
	c := BoRegionMiss.WithErr(tikverr.ErrUnknown).WithFnCfg(NewBackoffFnCfg(1, 2, FullJitter))
	require.Equal(t, tikverr.ErrUnknown, c.Err())
	require.Equal(t, FullJitter, c.FnCfg().Jitter)
	require.Equal(t, tikverr.ErrRegionUnavailable, BoRegionMiss.Err(), "original unchanged")
	for j, s := range map[Jitter]string{NoJitter: "no", FullJitter: "full", EqualJitter: "equal", DecorrJitter: "decorr", 9: "Jitter(9)"} {
		require.Equal(t, s, j.String())
	}
}

func TestBudgetExceededErrorString(t *testing.T) {
	env, _ := testEnv(1)
	b := NewBackoffer(context.Background(), 2, env) // 4ms budget
	require.NoError(t, b.Backoff(BoRegionMiss, errors.New("miss 1")))
	require.NoError(t, b.Backoff(BoStaleCmd, errors.New("stale 1")))
	err := b.Backoff(BoTiKVRPC, errors.New("rpc"))
	require.Equal(t, "tikvRPC backoffer.maxSleep 4ms is exceeded, errors:\n"+
		"miss 1 at 1970-01-01T00:16:40Z\n"+
		"stale 1 at 1970-01-01T00:16:40.002Z\n"+
		"total-backoff-times: 2, backoff-detail: regionMiss:1, staleCommand:1, maxBackoffTimeExceeded: true, maxExcludedTimeExceeded: false\n"+
		"longest sleep type: regionMiss, time: 2ms", err.Error())
	require.ErrorIs(t, err, tikverr.ErrRegionUnavailable, "tie goes to the first recorded")
}

func TestObserve(t *testing.T) {
	env, _ := testEnv(1)
	var seen []string
	env.Observe = func(cfg *Config, d time.Duration) { seen = append(seen, fmt.Sprintf("%s:%v", cfg, d)) }
	b := NewBackoffer(context.Background(), 100, env)
	require.NoError(t, b.Backoff(BoRegionMiss, errors.New("a")))
	require.NoError(t, b.Clone().Backoff(BoStaleCmd, errors.New("b")))
	require.Equal(t, []string{"regionMiss:2ms", "staleCommand:2ms"}, seen, "clones keep the hook")
}

func TestRealClock(t *testing.T) {
	b := NewBackoffer(context.Background(), 10, Env{Clock: rt.Real, Rand: rt.Real.NewRand()})
	require.NoError(t, b.Backoff(BoRegionMiss, errors.New("a")))
	require.Equal(t, 2, b.GetTotalSleep())
}
