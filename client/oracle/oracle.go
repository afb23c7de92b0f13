// Package oracle hands out timestamps: the Oracle interface the transaction
// layer uses, the timestamp arithmetic (18 logical bits under milliseconds),
// and PDOracle, which takes timestamps from PD, batching concurrent requests
// into one PD round trip, and keeps the latest one for low-resolution reads,
// lock expiry and read-timestamp validation (client-go oracle/oracle.go and
// oracle/oracles/pd.go). Local transaction scopes are LEGACY and absent.
package oracle

import (
	"context"
	"fmt"
	"time"
)

// Oracle provides strictly ascending timestamps.
type Oracle interface {
	// GetTimestamp returns a fresh timestamp from PD.
	GetTimestamp(ctx context.Context) (uint64, error)
	// GetTimestampAsync starts fetching a timestamp.
	GetTimestampAsync(ctx context.Context) Future
	// GetLowResolutionTimestamp returns the latest timestamp seen, without
	// asking PD unless none was seen yet.
	GetLowResolutionTimestamp(ctx context.Context) (uint64, error)
	// GetStaleTimestamp estimates the timestamp of prevSecond seconds ago
	// from the latest one seen. It does not guarantee the timestamp is
	// readable: validate it before use.
	GetStaleTimestamp(ctx context.Context, prevSecond uint64) (uint64, error)
	// IsExpired reports whether a lock of lockTS with TTL ms has expired, as
	// judged by the latest timestamp seen (a false "not expired" is possible
	// for a while, never a false "expired").
	IsExpired(lockTS, TTL uint64) bool
	// UntilExpired returns the ms left before such a lock expires.
	UntilExpired(lockTS, TTL uint64) int64
	// ValidateReadTS fails when readTS may exceed every timestamp PD has
	// handed out (a read in the future breaks snapshot isolation).
	ValidateReadTS(ctx context.Context, readTS uint64, isStaleRead bool) error
	// Close stops the oracle.
	Close()
}

// Future is a timestamp being fetched.
type Future interface {
	Wait() (uint64, error)
}

const (
	physicalShiftBits = 18
	logicalBits       = (1 << physicalShiftBits) - 1
)

// ComposeTS creates a timestamp from its physical (ms) and logical parts.
func ComposeTS(physical, logical int64) uint64 {
	return uint64((physical << physicalShiftBits) + logical)
}

// ExtractPhysical returns a timestamp's physical part in ms.
func ExtractPhysical(ts uint64) int64 { return int64(ts >> physicalShiftBits) }

// ExtractLogical returns a timestamp's logical part.
func ExtractLogical(ts uint64) int64 { return int64(ts & logicalBits) }

// GetPhysical returns t in ms since the epoch.
func GetPhysical(t time.Time) int64 { return t.UnixMilli() }

// GetTimeFromTS returns the instant of a timestamp's physical part.
func GetTimeFromTS(ts uint64) time.Time { return time.UnixMilli(ExtractPhysical(ts)) }

// GoTimeToTS converts an instant to a timestamp with logical part 0.
func GoTimeToTS(t time.Time) uint64 { return uint64(t.UnixMilli()) << physicalShiftBits }

// GoTimeToLowerLimitStartTS returns the smallest start ts of a transaction
// still running at now if transactions last at most maxTxnTimeUse ms.
func GoTimeToLowerLimitStartTS(now time.Time, maxTxnTimeUse int64) uint64 {
	return GoTimeToTS(now.Add(-time.Duration(maxTxnTimeUse) * time.Millisecond))
}

// ErrFutureTSRead is returned by ValidateReadTS for a read timestamp above
// every timestamp PD has handed out.
type ErrFutureTSRead struct {
	ReadTS    uint64
	CurrentTS uint64
}

func (e ErrFutureTSRead) Error() string {
	return fmt.Sprintf("cannot set read timestamp to a future time, readTS: %d, currentTS: %d", e.ReadTS, e.CurrentTS)
}

// ErrLatestStaleRead is returned for a stale read at the max timestamp.
type ErrLatestStaleRead struct{}

func (ErrLatestStaleRead) Error() string { return "cannot set read ts to max uint64 for stale read" }
