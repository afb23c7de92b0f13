package mvcc

import (
	"bytes"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// GCStats counts what a GC pass removed.
type GCStats struct {
	WritesDeleted int
	ValuesDeleted int
}

// GC removes versions no snapshot at or above safePoint can read, the way
// TiKV's GC compaction filter does (src/server/gc_worker/compaction_filter.rs):
// for each key, writes with commit_ts > safePoint are kept; among the older
// ones Rollback and Lock records are dropped, the newest Put is kept and
// everything older dropped; a newest Delete is dropped too (with everything
// below it). Dropped Puts delete their default-CF values. Locks are never
// touched. The cluster layer calls it with PD's GC safe point.
func (e *Engine) GC(safePoint uint64) GCStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	var st GCStats
	var dels []modify
	var curKey []byte
	keptData := false // a Put/Delete at or below the safe point was seen for curKey
	prevTS := uint64(maxTS)
	e.st.write.Ascend(func(it kvItem) bool {
		uk, cts := splitTS(it.key)
		if !bytes.Equal(uk, curKey) {
			invariants.Assert(curKey == nil || bytes.Compare(uk, curKey) > 0, "write CF out of order at %x", uk)
			curKey, keptData, prevTS = uk, false, maxTS
		}
		invariants.Assert(cts < prevTS || (cts == maxTS && prevTS == maxTS), "versions of %x not newest first", uk)
		prevTS = cts
		if cts > safePoint {
			return true
		}
		w := it.write
		drop := false
		switch {
		case keptData:
			drop = true
		case w.Type == WritePut:
			keptData = true
		case w.Type == WriteDelete:
			keptData, drop = true, true
		default: // Lock, Rollback
			drop = true
		}
		if drop {
			dels = append(dels, modify{cf: CFWrite, key: it.key, del: true})
			st.WritesDeleted++
			if w.Type == WritePut && !w.HasValue {
				dels = append(dels, modify{cf: CFDefault, key: appendTS(uk, w.StartTS), del: true})
				st.ValuesDeleted++
			}
		}
		return true
	})
	lockCount := e.st.lock.Len()
	e.st.apply(dels)
	invariants.Assert(e.st.lock.Len() == lockCount, "GC touched locks")
	return st
}
