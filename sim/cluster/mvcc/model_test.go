package mvcc

import (
	"fmt"
	"sort"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"pgregory.net/rapid"
)

// TestModelSI drives random interleavings of optimistic and pessimistic
// transactions against the engine and a reference model of snapshot
// isolation: reads see exactly the commits at or below start_ts (or meet the
// lock of a prewritten, undecided txn that started at or before the read),
// and write-write conflicts with commits after start_ts (optimistic) or
// for_update_ts (pessimistic) are detected.
func TestModelSI(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := New(Config{})
		m := newSIModel()
		keys := []string{"a", "b", "c", "d"}
		var txns []*modelTxn
		steps := rapid.IntRange(10, 60).Draw(rt, "steps")
		for s := 0; s < steps; s++ {
			var live []*modelTxn
			for _, x := range txns {
				if x.state == txnActive || x.state == txnPrewritten {
					live = append(live, x)
				}
			}
			op := rapid.IntRange(0, 6).Draw(rt, "op")
			if len(live) == 0 || op == 0 {
				x := &modelTxn{start: m.next(), pess: rapid.Bool().Draw(rt, "pess"), writes: map[string]string{}}
				if !x.pess {
					x.mode = rapid.IntRange(0, 2).Draw(rt, "mode") // 2PC, async commit, 1PC
				}
				txns = append(txns, x)
				continue
			}
			x := live[rapid.IntRange(0, len(live)-1).Draw(rt, "txn")]
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			switch {
			case op == 1 && x.state == txnActive: // read
				resp := e.Get(&kvrpcpb.GetRequest{Key: []byte(k), Version: x.start})
				m.maxRead = max(m.maxRead, x.start)
				want, locked := m.read(k, x.start, txns, x)
				if locked {
					if resp.Error == nil || resp.Error.Locked == nil {
						rt.Fatalf("txn %d read %s: want KeyIsLocked, got %v", x.start, k, resp)
					}
				} else if resp.Error != nil || string(resp.Value) != want || resp.NotFound != (want == "") {
					rt.Fatalf("txn %d read %s: want %q, got %v", x.start, k, want, resp)
				}
			case op == 2 && x.state == txnActive: // write intent
				if x.pess {
					fut := m.next()
					resp, w := e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}},
						PrimaryLock: x.primary(k), StartVersion: x.start, ForUpdateTs: fut, LockTtl: 100, WaitTimeout: -1})
					if w != nil {
						rt.Fatalf("no-wait lock waited")
					}
					holder := m.lockHolder(k, txns, x)
					switch {
					case holder != nil:
						if len(resp.Errors) != 1 || resp.Errors[0].Locked == nil {
							rt.Fatalf("pessimistic lock %s by %d: want locked by %d, got %v", k, x.start, holder.start, resp)
						}
						continue
					case m.latestCommit(k) > fut:
						rt.Fatalf("commit after a fresh for_update_ts")
					}
					if len(resp.Errors) != 0 {
						rt.Fatalf("pessimistic lock %s by %d: unexpected %v", k, x.start, resp)
					}
					x.locked = append(x.locked, k)
					x.forUpdate = fut
				}
				x.writes[k] = fmt.Sprintf("v%d-%s", x.start, k)
			case op == 3 && x.state == txnActive && len(x.writes) > 0: // prewrite
				req := &kvrpcpb.PrewriteRequest{PrimaryLock: x.primary(""), StartVersion: x.start, LockTtl: 100}
				var ks []string
				for _, kk := range keys {
					if v, ok := x.writes[kk]; ok {
						ks = append(ks, kk)
						req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(kk), Value: []byte(v)})
					}
				}
				switch x.mode {
				case 1:
					req.UseAsyncCommit = true
					for _, kk := range ks {
						if kk != string(req.PrimaryLock) {
							req.Secondaries = append(req.Secondaries, []byte(kk))
						}
					}
				case 2:
					req.TryOnePc = true
				}
				if x.pess {
					req.ForUpdateTs = max(x.forUpdate, x.start)
					for _, kk := range ks {
						act := kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
						if x.hasLock(kk) {
							act = kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK
						}
						req.PessimisticActions = append(req.PessimisticActions, act)
					}
				}
				resp := e.Prewrite(req)
				wantConflict, wantLocked := m.prewriteOutcome(x, ks, txns)
				switch {
				case len(resp.Errors) == 1 && resp.Errors[0].Conflict != nil &&
					resp.Errors[0].Conflict.ConflictTs == resp.Errors[0].Conflict.ConflictCommitTs &&
					resp.Errors[0].Conflict.ConflictCommitTs > x.start && !x.pess:
					// TiKV reports a conflict on a newer rollback record too
					// (check_for_newer_version sees every write type); the
					// model does not track (collapsible) rollback records.
					m.abort(e, x, keys)
				case wantConflict:
					if len(resp.Errors) == 0 || (resp.Errors[0].Conflict == nil && resp.Errors[0].Abort == "") {
						rt.Fatalf("prewrite %d %v: want conflict, got %v", x.start, ks, resp)
					}
					m.abort(e, x, keys)
				case wantLocked:
					if len(resp.Errors) == 0 || resp.Errors[0].Locked == nil {
						rt.Fatalf("prewrite %d %v: want locked, got %v", x.start, ks, resp)
					}
					m.abort(e, x, keys)
				default:
					if len(resp.Errors) != 0 {
						rt.Fatalf("prewrite %d %v: unexpected %v", x.start, ks, resp)
					}
					x.state = txnPrewritten
					switch x.mode {
					case 1:
						// Async commit: the commit ts exceeds every read so
						// far (max_ts), so no earlier snapshot is broken.
						if resp.MinCommitTs <= m.maxRead || resp.MinCommitTs <= x.start {
							rt.Fatalf("async prewrite %d: min_commit_ts %d <= max read %d", x.start, resp.MinCommitTs, m.maxRead)
						}
						x.minCommit = resp.MinCommitTs
					case 2:
						if resp.OnePcCommitTs <= m.maxRead || resp.OnePcCommitTs <= x.start {
							rt.Fatalf("1PC prewrite %d: commit ts %d <= max read %d", x.start, resp.OnePcCommitTs, m.maxRead)
						}
						m.commit(x, resp.OnePcCommitTs)
					}
				}
			case op == 4 && x.state == txnPrewritten: // commit
				cts := m.next()
				if x.mode == 1 {
					cts = x.minCommit
				}
				var kb [][]byte
				for _, kk := range keys {
					if _, ok := x.writes[kk]; ok {
						kb = append(kb, []byte(kk))
					}
				}
				resp := e.Commit(&kvrpcpb.CommitRequest{StartVersion: x.start, CommitVersion: cts, Keys: kb})
				if resp.Error != nil {
					rt.Fatalf("commit %d: %v", x.start, resp.Error)
				}
				m.commit(x, cts)
			case op == 5: // abort
				m.abort(e, x, keys)
			case op == 6 && x.state == txnPrewritten: // another client resolves x
				m.resolve(rt, e, x, keys)
			}
		}
		// Final: every committed write is visible at the end.
		for _, x := range txns {
			if x.state == txnActive || x.state == txnPrewritten {
				m.abort(e, x, keys)
			}
		}
		end := m.next()
		for _, k := range keys {
			resp := e.Get(&kvrpcpb.GetRequest{Key: []byte(k), Version: end})
			m.maxRead = max(m.maxRead, end)
			want, _ := m.read(k, end, nil, nil)
			if resp.Error != nil || string(resp.Value) != want {
				rt.Fatalf("final %s: want %q got %v", k, want, resp)
			}
		}
		if l := e.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: maxTS}); len(l.Locks) != 0 {
			rt.Fatalf("locks left: %v", l)
		}
	})
}

const (
	txnActive = iota
	txnPrewritten
	txnCommitted
	txnAborted
)

type modelTxn struct {
	start, commit, forUpdate uint64
	minCommit                uint64 // async commit
	mode                     int    // 0 2PC, 1 async commit, 2 1PC
	pess                     bool
	state                    int
	writes                   map[string]string
	locked                   []string
}

func (x *modelTxn) hasLock(k string) bool {
	for _, l := range x.locked {
		if l == k {
			return true
		}
	}
	return false
}

func (x *modelTxn) primary(k string) []byte {
	if len(x.locked) > 0 {
		return []byte(x.locked[0])
	}
	if k != "" {
		return []byte(k)
	}
	for _, kk := range []string{"a", "b", "c", "d"} {
		if _, ok := x.writes[kk]; ok {
			return []byte(kk)
		}
	}
	return nil
}

type modelVersion struct {
	commit uint64
	value  string
}

type siModel struct {
	ts       uint64
	maxRead  uint64
	versions map[string][]modelVersion
}

func (m *siModel) commit(x *modelTxn, cts uint64) {
	x.state, x.commit = txnCommitted, cts
	for kk, v := range x.writes {
		vs := append(m.versions[kk], modelVersion{cts, v})
		sort.Slice(vs, func(i, j int) bool { return vs[i].commit < vs[j].commit })
		m.versions[kk] = vs
	}
}

func newSIModel() *siModel { return &siModel{versions: map[string][]modelVersion{}} }

func (m *siModel) next() uint64 { m.ts += 10; return m.ts }

func (m *siModel) latestCommit(k string) uint64 {
	vs := m.versions[k]
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1].commit
}

// read returns the value at ts and whether an undecided prewrite lock of a
// txn with start <= ts blocks the read.
func (m *siModel) read(k string, ts uint64, txns []*modelTxn, self *modelTxn) (string, bool) {
	for _, x := range txns {
		if x != self && x.state == txnPrewritten && x.start <= ts && (x.mode != 1 || x.minCommit <= ts) {
			if _, ok := x.writes[k]; ok {
				return "", true
			}
		}
	}
	v := ""
	for _, ver := range m.versions[k] {
		if ver.commit <= ts {
			v = ver.value
		}
	}
	return v, false
}

// lockHolder returns the other txn holding a lock (pessimistic or
// prewrite) on k.
func (m *siModel) lockHolder(k string, txns []*modelTxn, self *modelTxn) *modelTxn {
	for _, x := range txns {
		if x == self {
			continue
		}
		if x.state == txnPrewritten {
			if _, ok := x.writes[k]; ok {
				return x
			}
		}
		if x.state == txnActive && x.hasLock(k) {
			return x
		}
	}
	return nil
}

func (m *siModel) prewriteOutcome(x *modelTxn, ks []string, txns []*modelTxn) (conflict, locked bool) {
	for _, k := range ks {
		holder := m.lockHolder(k, txns, x)
		if holder != nil {
			locked = true
			continue
		}
		limit := x.start
		if x.pess {
			if x.hasLock(k) {
				continue
			}
			limit = max(x.forUpdate, x.start)
			if m.latestCommit(k) > limit {
				conflict = true
			}
			continue
		}
		if m.latestCommit(k) > limit {
			conflict = true
		}
	}
	return conflict, locked
}

func (m *siModel) abort(e *Engine, x *modelTxn, keys []string) {
	var kb [][]byte
	for _, k := range keys {
		kb = append(kb, []byte(k))
	}
	if x.state == txnPrewritten || x.state == txnActive {
		e.BatchRollback(&kvrpcpb.BatchRollbackRequest{StartVersion: x.start, Keys: kb})
		e.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: x.start, ForUpdateTs: maxTS, Keys: kb})
	}
	x.state = txnAborted
	x.locked = nil
}

// resolve plays client-go's lock resolver against a prewritten txn with an
// expired TTL (current_ts = max): CheckTxnStatus on the primary; for an
// async-commit primary CheckSecondaryLocks decides; then ResolveLock.
func (m *siModel) resolve(rt *rapid.T, e *Engine, x *modelTxn, keys []string) {
	var ks [][]byte
	for _, k := range keys {
		if _, ok := x.writes[k]; ok {
			ks = append(ks, []byte(k))
		}
	}
	primary := x.primary("")
	st := e.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: primary, LockTs: x.start, CurrentTs: maxTS,
		RollbackIfNotExist: true, VerifyIsPrimary: true})
	if st.Error != nil || st.RegionError != nil {
		rt.Fatalf("check txn status %d: %v", x.start, st)
	}
	var commitTS uint64
	switch {
	case st.CommitVersion != 0:
		rt.Fatalf("prewritten txn %d reported committed at %d", x.start, st.CommitVersion)
	case st.LockTtl != 0:
		if !st.LockInfo.GetUseAsyncCommit() || x.mode != 1 {
			rt.Fatalf("expired non-async lock of %d survived: %v", x.start, st)
		}
		commitTS = st.LockInfo.MinCommitTs
		secs := st.LockInfo.Secondaries
		if len(secs) > 0 {
			cs := e.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{Keys: secs, StartVersion: x.start})
			if cs.Error != nil || len(cs.Locks) != len(secs) {
				rt.Fatalf("secondaries of %d: %v", x.start, cs)
			}
			for _, l := range cs.Locks {
				commitTS = max(commitTS, l.MinCommitTs)
			}
		}
		if commitTS != x.minCommit {
			rt.Fatalf("resolver commit ts %d != prewrite min_commit_ts %d", commitTS, x.minCommit)
		}
	case x.mode == 1:
		rt.Fatalf("async lock of %d rolled back by CheckTxnStatus without force_sync_commit", x.start)
	}
	r := e.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: x.start, CommitVersion: commitTS})
	if r.Error != nil {
		rt.Fatalf("resolve %d at %d: %v", x.start, commitTS, r.Error)
	}
	if commitTS != 0 {
		m.commit(x, commitTS)
	} else {
		x.state = txnAborted
		x.locked = nil
	}
}
