package mvcc

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"pgregory.net/rapid"
)

// TestGCPreservesReadsAboveSafePoint: after GC(sp), every read at a ts >=
// sp sees what it saw before, and no lock is touched.
func TestGCPreservesReadsAboveSafePoint(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := New(Config{})
		keys := []string{"a", "b", "c"}
		ts := uint64(1)
		n := rapid.IntRange(1, 30).Draw(rt, "txns")
		for i := 0; i < n; i++ {
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			start := ts
			ts += uint64(rapid.IntRange(1, 3).Draw(rt, "gap"))
			m := &kvrpcpb.Mutation{Key: []byte(k)}
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0:
				m.Op, m.Value = kvrpcpb.Op_Put, []byte{byte(i)}
			case 1:
				m.Op, m.Value = kvrpcpb.Op_Put, make([]byte, 300+i) // long value
			case 2:
				m.Op = kvrpcpb.Op_Del
			default:
				m.Op = kvrpcpb.Op_Lock
			}
			if r := e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{m}, PrimaryLock: []byte(k), StartVersion: start}); len(r.Errors) != 0 {
				continue
			}
			switch rapid.IntRange(0, 3).Draw(rt, "fate") {
			case 0:
				e.BatchRollback(&kvrpcpb.BatchRollbackRequest{StartVersion: start, Keys: [][]byte{[]byte(k)}})
			case 1:
				// left locked
			default:
				e.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: ts, Keys: [][]byte{[]byte(k)}})
			}
			ts++
		}
		sp := uint64(rapid.IntRange(0, int(ts)+2).Draw(rt, "safepoint"))
		before := e.Snapshot()
		locks := len(before.Locks())
		e.GC(sp)
		after := e.Snapshot()
		if len(after.Locks()) != locks {
			rt.Fatalf("GC changed locks")
		}
		for _, k := range keys {
			for r := sp; r <= ts+1; r++ {
				v1, ok1 := before.Get([]byte(k), r)
				v2, ok2 := after.Get([]byte(k), r)
				if ok1 != ok2 || string(v1) != string(v2) {
					rt.Fatalf("read %s@%d changed by GC(%d): %v/%x -> %v/%x", k, r, sp, ok1, v1, ok2, v2)
				}
			}
		}
	})
}
