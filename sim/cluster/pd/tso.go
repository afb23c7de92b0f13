package pd

import (
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc/codes"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// The TSO follows tikv/pd pkg/tso/tso.go (timestampOracle) and allocator.go.
const (
	// LogicalBits is the width of the logical part of a timestamp.
	LogicalBits = 18
	// maxLogical is the exclusive upper limit of the logical part.
	maxLogical = int64(1 << LogicalBits)
	// updateTimestampGuard is the minimum timestamp interval.
	updateTimestampGuard = time.Millisecond
	// maxRetryCount bounds getTS's retry loop.
	maxRetryCount = 10
)

// ComposeTS packs a physical millisecond time and a logical counter into one
// 64-bit timestamp, as clients do.
func ComposeTS(physical, logical int64) uint64 {
	return uint64(physical)<<LogicalBits + uint64(logical)
}

// ParseTS splits a 64-bit timestamp into its physical milliseconds and
// logical counter.
func ParseTS(ts uint64) (physical, logical int64) {
	return int64(ts >> LogicalBits), int64(ts & (1<<LogicalBits - 1))
}

type updatePurpose int

const (
	intervalUpdate updatePurpose = iota
	overflowUpdate
)

// tsoOracle is the leader's in-memory TSO (timestampOracle.tsoMux) plus the
// last window it saved. The persisted window lives in storage.tsoSaved.
type tsoOracle struct {
	physical  time.Time // zero: not initialized
	logical   int64
	lastSaved time.Time
}

func (t *tsoOracle) reset() { *t = tsoOracle{} }

func (t *tsoOracle) initialized() bool { return !t.physical.IsZero() }

// subPhysicalMs is typeutil.SubTSOPhysicalByWallClock: the difference in
// whole milliseconds.
func subPhysicalMs(after, before time.Time) int64 {
	return after.UnixMilli() - before.UnixMilli()
}

// sync is syncTimestamp: load the persisted bound, start at least
// updateTimestampGuard above it, and persist a new window.
func (t *tsoOracle) sync(now time.Time, saveInterval time.Duration, saved *time.Time) {
	last := *saved
	next := now
	if next.Sub(last) < updateTimestampGuard {
		// "system time may be incorrect": start from the saved bound.
		next = last.Add(updateTimestampGuard)
	}
	save := next.Add(saveInterval)
	invariants.Assert(!save.Before(*saved), "tso window shrinks: %v -> %v", *saved, save)
	*saved = save
	t.lastSaved = save
	t.setPhysical(next, false)
}

// setPhysical is setTSOPhysical with the mustInitialized condition; it also
// checks mustOverflowed when onlyIfOverflowed. It returns whether the logical
// part is (still) overflowed.
func (t *tsoOracle) setPhysical(next time.Time, onlyIfOverflowed bool) bool {
	if onlyIfOverflowed && (!t.initialized() || t.logical < maxLogical) {
		return t.logical >= maxLogical
	}
	if subPhysicalMs(next, t.physical) > 0 {
		t.physical = next
		t.logical = 0
	}
	return t.logical >= maxLogical
}

// update is updateTimestamp: move the physical time towards now (or by 1ms
// when the logical part runs short) and extend the persisted window when the
// new physical time comes within updateTimestampGuard of it. An overflow
// update may not save the window; it reports overflowed instead.
func (t *tsoOracle) update(now time.Time, purpose updatePurpose, saveInterval time.Duration, saved *time.Time) (overflowed bool) {
	if !t.initialized() {
		return false
	}
	prevPhysical, prevLogical := t.physical, t.logical
	jetLag := now.Sub(prevPhysical)
	var next time.Time
	switch {
	case jetLag > updateTimestampGuard:
		next = now
	case prevLogical > maxLogical/2:
		next = prevPhysical.Add(time.Millisecond)
	default:
		return false
	}
	if t.lastSaved.Sub(next) <= updateTimestampGuard {
		if purpose != intervalUpdate {
			return true
		}
		save := next.Add(saveInterval)
		invariants.Assert(save.After(*saved), "tso window does not grow: %v -> %v", *saved, save)
		*saved = save
		t.lastSaved = save
	}
	overflowed = t.setPhysical(next, purpose != intervalUpdate)
	invariants.Assert(t.physical.Before(t.lastSaved), "tso physical %v not below saved window %v", t.physical, t.lastSaved)
	return overflowed
}

// getTS is timestampOracle.getTS without the sleeps: simulated time does not
// move inside a call, so where PD would sleep and retry we fail with a
// RetryLater error at once.
func (t *tsoOracle) getTS(now time.Time, count uint32, saveInterval time.Duration, saved *time.Time) (pdpb.Timestamp, error) {
	if count == 0 {
		return pdpb.Timestamp{}, errUnknown(errGenerateTimestamp("tso count should be positive"))
	}
	for range maxRetryCount {
		if !t.initialized() {
			return pdpb.Timestamp{}, errUnknown(errGenerateTimestamp("timestamp in memory isn't initialized"))
		}
		t.logical += int64(count)
		ts := pdpb.Timestamp{Physical: t.physical.UnixMilli(), Logical: t.logical}
		if ts.Logical >= maxLogical {
			// ErrLogicOverflow: try to move the physical time on.
			if t.update(now, overflowUpdate, saveInterval, saved) {
				return pdpb.Timestamp{}, &StatusError{Code: codes.Unknown, RetryLater: true,
					Msg: errGenerateTimestamp("generate tso maximum number of retries exceeded")}
			}
			continue
		}
		return ts, nil
	}
	// Only a count beyond the logical range gets here (every retry moved the
	// physical time on and overflowed again): retrying will not help.
	return pdpb.Timestamp{}, errUnknown(errGenerateTimestamp("generate tso maximum number of retries exceeded"))
}

// generateLocked allocates count timestamps and checks monotonicity.
func (p *PD) generateLocked(now time.Time, count uint32) (pdpb.Timestamp, error) {
	if p.leader < 0 {
		return pdpb.Timestamp{}, errUnknown(errGenerateTimestamp("requested pd is not leader of cluster"))
	}
	ts, err := p.tso.getTS(p.pdNow(now), count, p.cfg.TSOSaveInterval, &p.st.tsoSaved)
	if err != nil {
		return ts, err
	}
	last := ComposeTS(ts.Physical, ts.Logical)
	first := last - uint64(count) + 1
	invariants.Assert(first > p.maxIssued, "tso not monotonic: batch starts at %d, already issued %d", first, p.maxIssued)
	invariants.Assert(ts.Logical < maxLogical, "logical %d overflows", ts.Logical)
	p.maxIssued = last
	return ts, nil
}

// Tso implements one request of the Tso stream. The response timestamp is
// the last of the batch (first = last - count + 1), as PD answers. Failures
// end the stream in PD, so they are errors here (codes.Unknown).
func (p *PD) Tso(now time.Time, req *pdpb.TsoRequest) (*pdpb.TsoResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The TSO stream checks the cluster id but not leadership (the
	// allocator's lease decides, in generateLocked).
	if req.GetHeader().GetClusterId() != p.clusterID {
		return nil, errMismatchClusterID(p.clusterID, req.GetHeader().GetClusterId())
	}
	ts, err := p.generateLocked(now, req.GetCount())
	if err != nil {
		return nil, err
	}
	return &pdpb.TsoResponse{Header: p.okHeader(), Timestamp: &ts, Count: req.GetCount()}, nil
}

// GetMinTS implements the RPC. Without a TSO microservice PD answers with one
// freshly generated timestamp. Faithful to server/grpc_service.go, a
// generation failure is not reported: the response is OK with a zero
// timestamp.
func (p *PD) GetMinTS(now time.Time, req *pdpb.GetMinTSRequest) (*pdpb.GetMinTSResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	ts, err := p.generateLocked(now, 1)
	if err != nil {
		ts = pdpb.Timestamp{}
	}
	return &pdpb.GetMinTSResponse{Header: p.okHeader(), Timestamp: &ts}, nil
}

// MaxIssuedTS returns the highest timestamp handed out so far (ghost state
// for checkers; it survives leader changes and restarts).
func (p *PD) MaxIssuedTS() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxIssued
}
