package mvcc

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// TestDataDriven runs testdata/*.txt. Commands (one engine per file,
// recreated by `new`):
//
//	new [api=v1|v1ttl|v2] [no-in-memory]
//	prewrite start=10 primary=k [ttl=] [for-update=] [async] [secondaries=a,b] [one-pc] [max-commit=] [min-commit=] [level=fast|strict] [txn-size=] [retry]
//	  <op> <key> [value] [pess|constraint] [exist|not-exist] [expect=ts]   (op: put del lock insert check)
//	flush start=10 primary=k gen=1 [ttl=]
//	  <op> <key> [value] [exist|not-exist]
//	commit start= commit= keys=a,b
//	get key= ts= [resolved=1,2] [committed=1,2] [rc]
//	batch-get keys= ts=
//	scan [start=] [end=] ts= [limit=] [reverse] [key-only]
//	cleanup key= start= [current=]
//	rollback start= keys=
//	check-txn-status primary= lock= [caller=] [current=] [rollback-if-not-exist] [force-sync] [resolving-pessimistic] [verify-primary]
//	check-secondary start= keys=
//	resolve [start=] [commit=] [txns=10:20,11:0] [keys=]
//	heartbeat primary= start= ttl= [min-commit=]
//	lock start= primary= for-update= keys= [ttl=] [wait=] [return-values] [check-existence] [only-if-exists] [force] [first] [not-exist] [min-commit=]
//	pessimistic-rollback start= for-update= [keys=]
//	ready | cancel token= [since=ms] | notify key= id=
//	buffer-get version= keys=
//	scan-lock max= [start=] [end=] [limit=]
//	delete-range start= end=
//	gc safe=
//	restart | set-max-ts ts= | set-max-limit exact= drifted= | max-ts | dump | mvcc key=
//	raw-put key= value= [ttl=] [cf=] [now=] | raw-get key= [cf=] [now=] | raw-delete key=
//	raw-batch-put pairs=a:1,b:2 [ttls=..] | raw-batch-get keys= | raw-batch-delete keys=
//	raw-scan [start=] [end=] limit= [reverse] [key-only] [cf=] | raw-batch-scan ranges=a-c,d-f each= [reverse]
//	raw-delete-range start= end= | raw-cas key= [prev=] [not-exist] value= [delete] | raw-ttl key= [now=] | raw-checksum ranges=a-z
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h := &ddHarness{e: New(Config{})}
			datadriven.RunTest(t, path, h.handle)
		})
	}
}

type ddHarness struct {
	e *Engine
}

type ddArgs map[string]string

func parseArgs(d *datadriven.TestData) ddArgs {
	a := ddArgs{}
	for _, arg := range d.CmdArgs {
		a[arg.Key] = strings.Join(arg.Vals, ",")
	}
	return a
}

func (a ddArgs) u(k string) uint64 {
	v, ok := a[k]
	if !ok {
		return 0
	}
	if v == "max" {
		return maxTS
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad %s=%q", k, v))
	}
	return n
}

func (a ddArgs) i(k string) int64 {
	n, _ := strconv.ParseInt(a[k], 10, 64)
	return n
}

func (a ddArgs) has(k string) bool { _, ok := a[k]; return ok }

func (a ddArgs) b(k string) []byte {
	v, ok := a[k]
	if !ok {
		return nil
	}
	return []byte(v)
}

func (a ddArgs) keys(k string) [][]byte {
	v, ok := a[k]
	if !ok || v == "" {
		return nil
	}
	var out [][]byte
	for _, s := range strings.Split(v, ",") {
		out = append(out, []byte(s))
	}
	return out
}

func (a ddArgs) uints(k string) []uint64 {
	var out []uint64
	for _, s := range a.keys(k) {
		n, _ := strconv.ParseUint(string(s), 10, 64)
		out = append(out, n)
	}
	return out
}

func (a ddArgs) now() time.Time { return time.Unix(int64(a.u("now"))+1000, 0) }

func (a ddArgs) ctx() *kvrpcpb.Context {
	c := &kvrpcpb.Context{ResolvedLocks: a.uints("resolved"), CommittedLocks: a.uints("committed"), IsRetryRequest: a.has("retry")}
	switch a["api"] {
	case "v2":
		c.ApiVersion = kvrpcpb.APIVersion_V2
	}
	if a.has("rc") {
		c.IsolationLevel = kvrpcpb.IsolationLevel_RC
	}
	if a.has("rc-check-ts") {
		c.IsolationLevel = kvrpcpb.IsolationLevel_RCCheckTS
	}
	if a.has("tidb") {
		c.RequestOrigin = kvrpcpb.RequestOrigin_RequestOriginTiDB
	}
	return c
}

func parseMutations(input string) ([]*kvrpcpb.Mutation, []kvrpcpb.PrewriteRequest_PessimisticAction, []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint) {
	var ms []*kvrpcpb.Mutation
	var acts []kvrpcpb.PrewriteRequest_PessimisticAction
	var cons []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		m := &kvrpcpb.Mutation{Key: []byte(f[1])}
		rest := f[2:]
		switch f[0] {
		case "put":
			m.Op = kvrpcpb.Op_Put
		case "insert":
			m.Op = kvrpcpb.Op_Insert
		case "del":
			m.Op = kvrpcpb.Op_Del
		case "lock":
			m.Op = kvrpcpb.Op_Lock
		case "check":
			m.Op = kvrpcpb.Op_CheckNotExists
		case "slock":
			m.Op = kvrpcpb.Op_SharedLock
		}
		if (m.Op == kvrpcpb.Op_Put || m.Op == kvrpcpb.Op_Insert) && len(rest) > 0 {
			m.Value = []byte(rest[0])
			if strings.HasPrefix(rest[0], "long") {
				m.Value = []byte(strings.Repeat(rest[0], 300/len(rest[0])+1))
			}
			rest = rest[1:]
		}
		act := kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
		for _, r := range rest {
			switch {
			case r == "pess":
				act = kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK
			case r == "constraint":
				act = kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK
			case r == "exist":
				m.Assertion = kvrpcpb.Assertion_Exist
			case r == "not-exist":
				m.Assertion = kvrpcpb.Assertion_NotExist
			case strings.HasPrefix(r, "expect="):
				n, _ := strconv.ParseUint(strings.TrimPrefix(r, "expect="), 10, 64)
				cons = append(cons, &kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{Index: uint32(len(ms)), ExpectedForUpdateTs: n})
			}
		}
		ms = append(ms, m)
		acts = append(acts, act)
	}
	return ms, acts, cons
}

func level(s string) kvrpcpb.AssertionLevel {
	switch s {
	case "fast":
		return kvrpcpb.AssertionLevel_Fast
	case "strict":
		return kvrpcpb.AssertionLevel_Strict
	}
	return kvrpcpb.AssertionLevel_Off
}

func show(v fmt.Stringer) string {
	s := v.String()
	if s == "" {
		return "ok"
	}
	return s
}

func (h *ddHarness) handle(t *testing.T, d *datadriven.TestData) string {
	a := parseArgs(d)
	e := h.e
	now := a.now()
	switch d.Cmd {
	case "new":
		cfg := Config{DisableInMemoryPessimisticLocks: a.has("no-in-memory")}
		switch a["api"] {
		case "v1ttl":
			cfg.APIVersion = kvrpcpb.APIVersion_V1TTL
		case "v2":
			cfg.APIVersion = kvrpcpb.APIVersion_V2
		}
		h.e = New(cfg)
		return "ok"
	case "prewrite":
		ms, acts, cons := parseMutations(d.Input)
		req := &kvrpcpb.PrewriteRequest{Context: a.ctx(), Mutations: ms, PrimaryLock: a.b("primary"), StartVersion: a.u("start"),
			LockTtl: a.u("ttl"), ForUpdateTs: a.u("for-update"), MinCommitTs: a.u("min-commit"), UseAsyncCommit: a.has("async"),
			Secondaries: a.keys("secondaries"), TryOnePc: a.has("one-pc"), MaxCommitTs: a.u("max-commit"),
			AssertionLevel: level(a["level"]), TxnSize: a.u("txn-size"), ForUpdateTsConstraints: cons}
		if req.ForUpdateTs != 0 {
			req.PessimisticActions = acts
		}
		return show(e.Prewrite(req))
	case "flush":
		ms, _, _ := parseMutations(d.Input)
		return show(e.Flush(&kvrpcpb.FlushRequest{Context: a.ctx(), Mutations: ms, PrimaryKey: a.b("primary"), StartTs: a.u("start"),
			Generation: a.u("gen"), LockTtl: a.u("ttl"), AssertionLevel: level(a["level"])}))
	case "commit":
		return show(e.Commit(&kvrpcpb.CommitRequest{Context: a.ctx(), StartVersion: a.u("start"), CommitVersion: a.u("commit"), Keys: a.keys("keys")}))
	case "get":
		return show(e.Get(&kvrpcpb.GetRequest{Context: a.ctx(), Key: a.b("key"), Version: a.u("ts"), NeedCommitTs: a.has("need-commit-ts")}))
	case "batch-get":
		return show(e.BatchGet(&kvrpcpb.BatchGetRequest{Context: a.ctx(), Keys: a.keys("keys"), Version: a.u("ts")}))
	case "scan":
		return show(e.Scan(&kvrpcpb.ScanRequest{Context: a.ctx(), StartKey: a.b("start"), EndKey: a.b("end"), Version: a.u("ts"),
			Limit: uint32(a.u("limit")), Reverse: a.has("reverse"), KeyOnly: a.has("key-only"), SampleStep: uint32(a.u("step"))}))
	case "cleanup":
		return show(e.Cleanup(&kvrpcpb.CleanupRequest{Context: a.ctx(), Key: a.b("key"), StartVersion: a.u("start"), CurrentTs: a.u("current")}))
	case "rollback":
		return show(e.BatchRollback(&kvrpcpb.BatchRollbackRequest{Context: a.ctx(), StartVersion: a.u("start"), Keys: a.keys("keys")}))
	case "check-txn-status":
		return show(e.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{Context: a.ctx(), PrimaryKey: a.b("primary"), LockTs: a.u("lock"),
			CallerStartTs: a.u("caller"), CurrentTs: a.u("current"), RollbackIfNotExist: a.has("rollback-if-not-exist"),
			ForceSyncCommit: a.has("force-sync"), ResolvingPessimisticLock: a.has("resolving-pessimistic"), VerifyIsPrimary: a.has("verify-primary")}))
	case "check-secondary":
		return show(e.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{Context: a.ctx(), Keys: a.keys("keys"), StartVersion: a.u("start")}))
	case "resolve":
		req := &kvrpcpb.ResolveLockRequest{Context: a.ctx(), StartVersion: a.u("start"), CommitVersion: a.u("commit"), Keys: a.keys("keys")}
		for _, s := range a.keys("txns") {
			p := strings.Split(string(s), ":")
			x, _ := strconv.ParseUint(p[0], 10, 64)
			y, _ := strconv.ParseUint(p[1], 10, 64)
			req.TxnInfos = append(req.TxnInfos, &kvrpcpb.TxnInfo{Txn: x, Status: y})
		}
		return show(e.ResolveLock(req))
	case "heartbeat":
		return show(e.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{Context: a.ctx(), PrimaryLock: a.b("primary"), StartVersion: a.u("start"),
			AdviseLockTtl: a.u("ttl"), MinCommitTs: a.u("min-commit")}))
	case "lock":
		req := &kvrpcpb.PessimisticLockRequest{Context: a.ctx(), PrimaryLock: a.b("primary"), StartVersion: a.u("start"),
			ForUpdateTs: a.u("for-update"), LockTtl: a.u("ttl"), WaitTimeout: a.i("wait"), ReturnValues: a.has("return-values"),
			CheckExistence: a.has("check-existence"), LockOnlyIfExists: a.has("only-if-exists"), IsFirstLock: a.has("first"),
			MinCommitTs: a.u("min-commit")}
		if a.has("force") {
			req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		}
		for _, k := range a.keys("keys") {
			m := &kvrpcpb.Mutation{Op: kvrpcpb.Op_PessimisticLock, Key: k}
			if a.has("shared") {
				m.Op = kvrpcpb.Op_SharedPessimisticLock
			}
			if a.has("not-exist") {
				m.Assertion = kvrpcpb.Assertion_NotExist
			}
			req.Mutations = append(req.Mutations, m)
		}
		resp, w := e.PessimisticLock(req)
		if w != nil {
			return fmt.Sprintf("wait token=%d key=%s holders=%v timeout=%v mode=%v", w.Token, w.Key, w.Holders, w.Timeout, w.Mode)
		}
		return show(resp)
	case "pessimistic-rollback":
		return show(e.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{Context: a.ctx(), StartVersion: a.u("start"),
			ForUpdateTs: a.u("for-update"), Keys: a.keys("keys")}))
	case "ready":
		r := e.Ready()
		var b strings.Builder
		for _, w := range r.Wakeups {
			if w.Retry {
				fmt.Fprintf(&b, "wake token=%d retry\n", w.Token)
			} else {
				fmt.Fprintf(&b, "wake token=%d %s\n", w.Token, show(w.Resp))
			}
		}
		for _, tm := range r.Timers {
			fmt.Fprintf(&b, "timer key=%s id=%d after=%v\n", tm.Key, tm.ID, tm.Delay)
		}
		if b.Len() == 0 {
			return "none"
		}
		return b.String()
	case "cancel":
		resp := e.CancelLockWait(a.u("token"), time.Duration(a.u("since"))*time.Millisecond)
		if resp == nil {
			return "unknown token"
		}
		return show(resp)
	case "notify":
		e.NotifyDelayed(a.b("key"), a.u("id"))
		return "ok"
	case "buffer-get":
		return show(e.BufferBatchGet(&kvrpcpb.BufferBatchGetRequest{Context: a.ctx(), Keys: a.keys("keys"), Version: a.u("version")}))
	case "scan-lock":
		return show(e.ScanLock(&kvrpcpb.ScanLockRequest{Context: a.ctx(), MaxVersion: a.u("max"), StartKey: a.b("start"), EndKey: a.b("end"), Limit: uint32(a.u("limit"))}))
	case "delete-range":
		return show(e.DeleteRange(&kvrpcpb.DeleteRangeRequest{Context: a.ctx(), StartKey: a.b("start"), EndKey: a.b("end")}))
	case "gc":
		st := e.GC(a.u("safe"))
		return fmt.Sprintf("writes=%d values=%d", st.WritesDeleted, st.ValuesDeleted)
	case "restart":
		return fmt.Sprintf("dropped waiters %v", e.Restart())
	case "set-max-ts":
		e.SetMaxTS(a.u("ts"))
		return "ok"
	case "set-max-limit":
		e.SetMaxTSLimit(a.u("exact"), a.u("drifted"))
		return "ok"
	case "max-ts":
		return fmt.Sprint(e.MaxTS())
	case "dump":
		return e.dump()
	case "mvcc":
		return show(e.MvccGetByKey(&kvrpcpb.MvccGetByKeyRequest{Key: a.b("key")}))
	case "raw-put":
		return show(e.RawPut(&kvrpcpb.RawPutRequest{Context: a.ctx(), Key: a.b("key"), Value: a.b("value"), Cf: a["cf"], Ttl: a.u("ttl")}, now))
	case "raw-get":
		return show(e.RawGet(&kvrpcpb.RawGetRequest{Context: a.ctx(), Key: a.b("key"), Cf: a["cf"]}, now))
	case "raw-delete":
		return show(e.RawDelete(&kvrpcpb.RawDeleteRequest{Context: a.ctx(), Key: a.b("key"), Cf: a["cf"]}, now))
	case "raw-batch-put":
		req := &kvrpcpb.RawBatchPutRequest{Context: a.ctx(), Cf: a["cf"], Ttl: a.u("ttl"), Ttls: a.uints("ttls")}
		for _, p := range a.keys("pairs") {
			kv := strings.SplitN(string(p), ":", 2)
			req.Pairs = append(req.Pairs, &kvrpcpb.KvPair{Key: []byte(kv[0]), Value: []byte(kv[1])})
		}
		return show(e.RawBatchPut(req, now))
	case "raw-batch-get":
		return show(e.RawBatchGet(&kvrpcpb.RawBatchGetRequest{Context: a.ctx(), Keys: a.keys("keys"), Cf: a["cf"]}, now))
	case "raw-batch-delete":
		return show(e.RawBatchDelete(&kvrpcpb.RawBatchDeleteRequest{Context: a.ctx(), Keys: a.keys("keys"), Cf: a["cf"]}, now))
	case "raw-scan":
		return show(e.RawScan(&kvrpcpb.RawScanRequest{Context: a.ctx(), StartKey: a.b("start"), EndKey: a.b("end"), Limit: uint32(a.u("limit")),
			Reverse: a.has("reverse"), KeyOnly: a.has("key-only"), Cf: a["cf"]}, now))
	case "raw-batch-scan":
		req := &kvrpcpb.RawBatchScanRequest{Context: a.ctx(), EachLimit: uint32(a.u("each")), Reverse: a.has("reverse"), KeyOnly: a.has("key-only"), Cf: a["cf"]}
		for _, r := range a.keys("ranges") {
			p := strings.SplitN(string(r), "-", 2)
			req.Ranges = append(req.Ranges, &kvrpcpb.KeyRange{StartKey: []byte(p[0]), EndKey: []byte(p[1])})
		}
		return show(e.RawBatchScan(req, now))
	case "raw-delete-range":
		return show(e.RawDeleteRange(&kvrpcpb.RawDeleteRangeRequest{Context: a.ctx(), StartKey: a.b("start"), EndKey: a.b("end"), Cf: a["cf"]}, now))
	case "raw-cas":
		return show(e.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Context: a.ctx(), Key: a.b("key"), Value: a.b("value"), PreviousNotExist: a.has("not-exist"),
			PreviousValue: a.b("prev"), Delete: a.has("delete"), Ttl: a.u("ttl"), Cf: a["cf"]}, now))
	case "raw-ttl":
		return show(e.RawGetKeyTTL(&kvrpcpb.RawGetKeyTTLRequest{Context: a.ctx(), Key: a.b("key"), Cf: a["cf"]}, now))
	case "raw-checksum":
		req := &kvrpcpb.RawChecksumRequest{Context: a.ctx()}
		for _, r := range a.keys("ranges") {
			p := strings.SplitN(string(r), "-", 2)
			req.Ranges = append(req.Ranges, &kvrpcpb.KeyRange{StartKey: []byte(p[0]), EndKey: []byte(p[1])})
		}
		return show(e.RawChecksum(req, now))
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}

// dump prints every CF entry in key order (test helper).
func (e *Engine) dump() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var lines []string
	e.st.lock.Ascend(func(it kvItem) bool {
		raw, _ := DecodeKey(it.key)
		if it.shared != nil {
			s := fmt.Sprintf("lock %s: Shared", raw)
			if it.shared.shrinkOnly {
				s += " shrink-only"
			}
			for _, l := range it.shared.locks {
				s += fmt.Sprintf(" [%v start=%d primary=%s for_update=%d]", l.Type, l.StartTS, l.Primary, l.ForUpdateTS)
			}
			lines = append(lines, s)
			return true
		}
		l := it.lock
		s := fmt.Sprintf("lock %s: %v start=%d primary=%s ttl=%d for_update=%d min_commit=%d", raw, l.Type, l.StartTS, l.Primary, l.TTL, l.ForUpdateTS, l.MinCommitTS)
		if l.HasValue {
			s += fmt.Sprintf(" value=%q", l.ShortValue)
		}
		if l.UseAsyncCommit {
			s += fmt.Sprintf(" async secondaries=%q", l.Secondaries)
		}
		if len(l.RollbackTS) > 0 {
			s += fmt.Sprintf(" rollback_ts=%v", l.RollbackTS)
		}
		if l.Generation > 0 {
			s += fmt.Sprintf(" gen=%d", l.Generation)
		}
		if l.IsLockedWithConflict {
			s += " with-conflict"
		}
		if l.InMemory {
			s += " in-memory"
		}
		lines = append(lines, s)
		return true
	})
	e.st.write.Ascend(func(it kvItem) bool {
		uk, cts := splitTS(it.key)
		raw, _ := DecodeKey(uk)
		w := it.write
		s := fmt.Sprintf("write %s@%d: %v start=%d", raw, cts, w.Type, w.StartTS)
		if w.HasValue {
			s += fmt.Sprintf(" value=%q", w.ShortValue)
		}
		if w.Protected {
			s += " protected"
		}
		if w.HasOverlappedRollback {
			s += " overlapped-rollback"
		}
		lines = append(lines, s)
		return true
	})
	e.st.def.Ascend(func(it kvItem) bool {
		uk, ts := splitTS(it.key)
		raw, _ := DecodeKey(uk)
		lines = append(lines, fmt.Sprintf("default %s@%d: %d bytes", raw, ts, len(it.value)))
		return true
	})
	if !sort.StringsAreSorted(nil) || len(lines) == 0 {
		return "empty"
	}
	return strings.Join(lines, "\n")
}
