package rangetask

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

const (
	// deleteRangeOneRegionMaxBackoff is the backoff budget, in ms, of one
	// region's DeleteRange (client-go deleteRangeOneRegionMaxBackoff).
	deleteRangeOneRegionMaxBackoff = 100000
	// deleteRangeTimeout is one DeleteRange RPC's timeout (client-go
	// ReadTimeoutMedium).
	deleteRangeTimeout = 60 * time.Second
)

// DeleteRangeError is a DeleteRange a store refused: the response's error
// string (TiKV's storage error), with the region and range it was for.
type DeleteRangeError struct {
	RegionID uint64
	Range    KeyRange
	Msg      string
}

func (e *DeleteRangeError) Error() string {
	return fmt.Sprintf("delete range %v in region %d: %s", e.Range, e.RegionID, e.Msg)
}

// DeleteRangeTask deletes every version of every key in a range, region by
// region, with KvDeleteRange (client-go rangetask.DeleteRangeTask). It keeps
// no MVCC history: readers at any timestamp stop seeing the keys, and
// running transactions on them break. Frequent use burdens TiKV.
type DeleteRangeTask struct {
	store            Store
	startKey, endKey []byte
	notifyOnly       bool
	concurrency      int
	completedRegions int
}

// NewDeleteRangeTask returns a task deleting [startKey, endKey) (empty keys
// unbounded) with at most concurrency regions at a time. Execute runs it.
func NewDeleteRangeTask(store Store, startKey, endKey []byte, concurrency int) *DeleteRangeTask {
	return &DeleteRangeTask{store: store, startKey: startKey, endKey: endKey, concurrency: concurrency}
}

// NewNotifyDeleteRangeTask returns a task that sends DeleteRange with
// notify_only to every region of the range: TiKV deletes nothing but
// replicates the request through Raft, which tells the regions' observers
// (TiFlash) the range is going away before UnsafeDestroyRange removes it
// (client-go NewNotifyDeleteRangeTask).
func NewNotifyDeleteRangeTask(store Store, startKey, endKey []byte, concurrency int) *DeleteRangeTask {
	t := NewDeleteRangeTask(store, startKey, endKey, concurrency)
	t.notifyOnly = true
	return t
}

func (t *DeleteRangeTask) runnerName() string {
	if t.notifyOnly {
		return "delete-range-notify"
	}
	return "delete-range"
}

// Execute runs the task and records how many regions completed. A region
// error makes the task locate the region's keys again and resend; a
// transport failure is retried by the sender within the region's backoff
// budget; anything else stops the task with an *Error.
func (t *DeleteRangeTask) Execute(ctx context.Context) error {
	runner := NewRunner(t.runnerName(), t.store, t.concurrency, t.sendReqOnRange)
	err := runner.RunOnRange(ctx, t.startKey, t.endKey)
	t.completedRegions = runner.CompletedRegions()
	return err
}

// CompletedRegions returns how many regions the last Execute completed.
func (t *DeleteRangeTask) CompletedRegions() int { return t.completedRegions }

// sendReqOnRange deletes r one region at a time (client-go sendReqOnRange):
// locate the region of the next key, delete up to the region's end (or the
// range's), and go on from there.
func (t *DeleteRangeTask) sendReqOnRange(ctx context.Context, r KeyRange) (TaskStat, error) {
	var stat TaskStat
	s := t.store.Sender()
	env := s.BackoffEnv(t.store.Runtime())
	start := r.StartKey
	for len(r.EndKey) == 0 || bytes.Compare(start, r.EndKey) < 0 {
		if err := ctx.Err(); err != nil {
			return stat, err
		}
		bo := retry.NewBackoffer(ctx, deleteRangeOneRegionMaxBackoff, env)
		var last bool
		var sent KeyRange
		resp, loc, err := s.SendLocated(ctx, bo, s.KeyLocator(start, false), deleteRangeTimeout, func(loc *locate.KeyLocation) *tikvrpc.Request {
			// Delete to the region's end, except in the range's last region.
			end := loc.EndKey
			last = len(end) == 0 || (len(r.EndKey) > 0 && bytes.Compare(end, r.EndKey) >= 0)
			if last {
				end = r.EndKey
			}
			sent = KeyRange{StartKey: start, EndKey: end}
			return tikvrpc.NewRequest(tikvrpc.CmdDeleteRange, &kvrpcpb.DeleteRangeRequest{
				StartKey: start, EndKey: end, NotifyOnly: t.notifyOnly})
		})
		if err != nil {
			return stat, err
		}
		if msg := resp.Resp.(*kvrpcpb.DeleteRangeResponse).GetError(); msg != "" {
			return stat, &DeleteRangeError{RegionID: loc.Region.ID(), Range: sent, Msg: msg}
		}
		stat.CompletedRegions++
		if last {
			break
		}
		start = sent.EndKey
	}
	return stat, nil
}
