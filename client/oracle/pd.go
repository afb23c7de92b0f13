package oracle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// PDOracle is the Oracle backed by PD.
//
// Batching: concurrent GetTimestamp calls are served by one PD request for
// all of them (PD's Tso RPC allocates count consecutive timestamps), like the
// pd client's TSO dispatcher. No task runs in the background: the first caller
// that finds no request in flight spawns a dispatcher task that keeps sending
// rounds while callers are waiting, and ends when none is.
type PDOracle struct {
	rt      rt.Runtime
	pd      pd.TSO
	timeout time.Duration

	mu       sync.Mutex
	inflight bool
	pending  []*rt.Future[uint64]
	last     uint64    // latest timestamp seen
	arrival  time.Time // when it arrived, on rt's clock
	closed   bool
}

var _ Oracle = (*PDOracle)(nil)

// ErrClosed is returned by a closed oracle.
var ErrClosed = errors.New("oracle: closed")

// NewPDOracle returns an oracle taking timestamps from p. Each PD round
// trip gives up after timeout (default 3s).
func NewPDOracle(r rt.Runtime, p pd.TSO, timeout time.Duration) *PDOracle {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return &PDOracle{rt: r, pd: p, timeout: timeout}
}

// GetTimestamp implements Oracle.
func (o *PDOracle) GetTimestamp(ctx context.Context) (uint64, error) {
	return o.fetch().Wait(ctx)
}

func (o *PDOracle) fetch() *rt.Future[uint64] {
	f := rt.NewFuture[uint64](o.rt)
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		f.Set(0, ErrClosed)
		return f
	}
	o.pending = append(o.pending, f)
	lead := !o.inflight
	o.inflight = true
	o.mu.Unlock()
	if lead {
		o.rt.Go("tso-dispatch", o.dispatch)
	}
	return f
}

// dispatch sends one PD request per round for every caller waiting at its
// start, until none waits.
func (o *PDOracle) dispatch() {
	for {
		o.mu.Lock()
		batch := o.pending
		o.pending = nil
		if len(batch) == 0 {
			o.inflight = false
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		// The round must not die with one caller's context: it serves all.
		ctx, cancel := rt.WithTimeout(o.rt, context.Background(), o.timeout)
		ph, lo, err := o.pd.GetTS(ctx, uint32(len(batch)))
		cancel()
		if err != nil {
			err = fmt.Errorf("oracle: get %d timestamps from PD: %w", len(batch), err)
			for _, f := range batch {
				f.Set(0, err)
			}
			continue
		}
		last := ComposeTS(ph, lo)
		first := last - uint64(len(batch)-1)
		o.setLast(last)
		for i, f := range batch {
			f.Set(first+uint64(i), nil)
		}
	}
}

// setLast records ts as the latest seen; timestamps only go up.
func (o *PDOracle) setLast(ts uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ts > o.last {
		o.last, o.arrival = ts, o.rt.Now()
	} else {
		invariants.Assert(ts != o.last || ts == 0, "PD handed out timestamp %d twice", ts)
	}
}

func (o *PDOracle) lastTS() (uint64, time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.arrival, o.last != 0
}

type future struct {
	ctx context.Context
	f   *rt.Future[uint64]
}

func (f future) Wait() (uint64, error) { return f.f.Wait(f.ctx) }

// GetTimestampAsync implements Oracle.
func (o *PDOracle) GetTimestampAsync(ctx context.Context) Future { return future{ctx, o.fetch()} }

// lowResolutionInterval is how stale the low-resolution timestamp may get
// (client-go's updateTS period, 2s).
const lowResolutionInterval = 2 * time.Second

// GetLowResolutionTimestamp implements Oracle. The latest timestamp seen is
// refreshed from PD when it is older than 2s, so callers waiting for locks
// to expire make progress even when nobody runs Run (client-go relies on its
// background updater alone).
func (o *PDOracle) GetLowResolutionTimestamp(ctx context.Context) (uint64, error) {
	if ts, at, ok := o.lastTS(); ok && o.rt.Now().Sub(at) < lowResolutionInterval {
		return ts, nil
	}
	return o.GetTimestamp(ctx)
}

// Run refreshes the low-resolution timestamp every interval (client-go's
// updateTS loop, default 2s) until ctx is done. It is optional.
func (o *PDOracle) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	for {
		if err := o.rt.Sleep(ctx, interval); err != nil {
			return err
		}
		_, _ = o.GetTimestamp(ctx)
	}
}

// GetStaleTimestamp implements Oracle (client-go getStaleTimestamp).
func (o *PDOracle) GetStaleTimestamp(ctx context.Context, prevSecond uint64) (uint64, error) {
	ts, arrival, ok := o.lastTS()
	if !ok {
		if _, err := o.GetTimestamp(ctx); err != nil {
			return 0, err
		}
		ts, arrival, _ = o.lastTS()
	}
	physical := GetTimeFromTS(ts)
	if uint64(physical.Unix()) <= prevSecond {
		return 0, fmt.Errorf("oracle: invalid prevSecond %d", prevSecond)
	}
	stale := physical.Add(o.rt.Now().Add(-time.Duration(prevSecond) * time.Second).Sub(arrival))
	return GoTimeToTS(stale), nil
}

// IsExpired implements Oracle: with no timestamp seen yet, every lock counts
// as expired (client-go).
func (o *PDOracle) IsExpired(lockTS, TTL uint64) bool {
	last, _, ok := o.lastTS()
	if !ok {
		return true
	}
	return ExtractPhysical(last) >= ExtractPhysical(lockTS)+int64(TTL)
}

// UntilExpired implements Oracle.
func (o *PDOracle) UntilExpired(lockTS, TTL uint64) int64 {
	last, _, ok := o.lastTS()
	if !ok {
		return 0
	}
	return ExtractPhysical(lockTS) + int64(TTL) - ExtractPhysical(last)
}

// ValidateReadTS implements Oracle (client-go pdOracle.ValidateReadTS): a
// read ts above the latest seen is checked against a fresh PD timestamp,
// twice, since a batched round may have started before the caller's ts was
// handed out.
func (o *PDOracle) ValidateReadTS(ctx context.Context, readTS uint64, isStaleRead bool) error {
	if readTS >= math.MaxInt64 && readTS < math.MaxUint64 {
		return fmt.Errorf("oracle: MaxInt64 <= readTS < MaxUint64, readTS=%d", readTS)
	}
	if readTS == math.MaxUint64 {
		if isStaleRead {
			return ErrLatestStaleRead{}
		}
		return nil
	}
	for try := 0; ; try++ {
		if last, _, ok := o.lastTS(); ok && readTS <= last {
			return nil
		}
		current, err := o.GetTimestamp(ctx)
		if err != nil {
			return fmt.Errorf("oracle: fail to validate read timestamp: %w", err)
		}
		if readTS <= current {
			return nil
		}
		if try == 1 {
			return ErrFutureTSRead{ReadTS: readTS, CurrentTS: current}
		}
	}
}

// Close fails every later call with ErrClosed.
func (o *PDOracle) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
}
