package txnsnapshot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/client/txnkv/txnsnapshot"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// These tests read through KVSnapshot alone against the fake cluster
// (3 stores, regions split at "g" and "p"); the data and locks are written
// straight into the cluster's engine.

type env struct {
	t   *testing.T
	ctx context.Context
	w   *sim.World
	r   *clock.Runtime
	c   *cluster.Cluster
	s   *sender.Sender
	o   *oracle.PDOracle
	lr  *txnlock.LockResolver
}

func run(t *testing.T, body func(e *env)) {
	t.Helper()
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	pdc := c.NewPDClient("app")
	codec, err := apicodec.NewCodec(kvrpcpb.APIVersion_V1, apicodec.ModeTxn, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sender.NewWithCodec(locate.New(r, sender.CodecRegionSource(pdc, codec), locate.Options{}), c.NewTransport("app"), codec)
	o := oracle.NewPDOracle(r, pdc, 0)
	e := &env{t: t, ctx: context.Background(), w: w, r: r, c: c, s: s, o: o, lr: txnlock.NewLockResolver(s, o)}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) ts() uint64 {
	e.t.Helper()
	ts, err := e.o.GetTimestamp(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func (e *env) snap(ts uint64) *txnsnapshot.KVSnapshot { return txnsnapshot.New(e.r, e.s, e.lr, ts) }

// write commits key=value pairs ("k=v", "k=" deletes) in one transaction
// and returns its commit ts.
func (e *env) write(kvs ...string) uint64 {
	e.t.Helper()
	start := e.ts()
	e.prewrite(start, 3000, 0, kvs...)
	commitTS := e.ts()
	var keys [][]byte
	for _, kv := range kvs {
		keys = append(keys, []byte(strings.SplitN(kv, "=", 2)[0]))
	}
	if resp := e.c.Engine().Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commitTS, Keys: keys}); resp.Error != nil {
		e.t.Fatal(resp.Error)
	}
	return commitTS
}

// prewrite leaves locks of txn start on "k=v" pairs (the first is the
// primary).
func (e *env) prewrite(start, ttl, minCommit uint64, kvs ...string) {
	e.t.Helper()
	var ms []*kvrpcpb.Mutation
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m := &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(v)}
		if v == "" {
			m.Op = kvrpcpb.Op_Del
		}
		ms = append(ms, m)
	}
	primary, _, _ := strings.Cut(kvs[0], "=")
	resp := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: []byte(primary), StartVersion: start,
		LockTtl: ttl, MinCommitTs: minCommit, TxnSize: uint64(len(kvs))})
	if len(resp.Errors) > 0 {
		e.t.Fatalf("prewrite %v: %v", kvs, resp.Errors)
	}
}

func (e *env) scan(sc *txnsnapshot.Scanner, err error) string {
	t := e.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var out []string
	for sc.Valid() {
		out = append(out, fmt.Sprintf("%s=%s", sc.Key(), sc.Value()))
		if err := sc.Next(); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(out, " ")
}

// TestReadsAcrossRegions: Get, BatchGet and forward and reverse scans in
// small batches over three regions see exactly the versions at or below
// the snapshot's ts.
func TestReadsAcrossRegions(t *testing.T) {
	run(t, func(e *env) {
		e.write("a=1", "c=1", "h=1", "k=1", "q=1", "z=1")
		mid := e.ts()
		e.write("a=2", "c=", "m=2", "r=2")
		s1, s2 := e.snap(mid), e.snap(e.ts())
		if s1.Version() != mid {
			t.Fatalf("Version %d", s1.Version())
		}
		for _, tc := range []struct {
			s    *txnsnapshot.KVSnapshot
			key  string
			want string
		}{{s1, "a", "1"}, {s2, "a", "2"}, {s1, "c", "1"}, {s2, "c", ""}, {s1, "m", ""}, {s2, "m", "2"}} {
			v, err := tc.s.Get(e.ctx, []byte(tc.key))
			if tc.want == "" {
				if !errors.Is(err, tikverr.ErrNotExist) {
					t.Errorf("Get %s at %d = %q, %v; want ErrNotExist", tc.key, tc.s.Version(), v, err)
				}
				continue
			}
			if err != nil || string(v) != tc.want {
				t.Errorf("Get %s at %d = %q, %v; want %s", tc.key, tc.s.Version(), v, err, tc.want)
			}
		}
		got, err := s2.BatchGet(e.ctx, [][]byte{[]byte("z"), []byte("a"), []byte("c"), []byte("m"), []byte("a"), []byte("x")})
		if err != nil || len(got) != 3 || string(got["a"]) != "2" || string(got["m"]) != "2" || string(got["z"]) != "1" {
			t.Fatalf("BatchGet = %v, %v", got, err)
		}
		if got, err := s2.BatchGet(e.ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("empty BatchGet = %v, %v", got, err)
		}
		s2.ScanBatchSize = 2
		if got := e.scan(s2.Iter(e.ctx, []byte("b"), nil)); got != "h=1 k=1 m=2 q=1 r=2 z=1" {
			t.Fatalf("forward scan: %s", got)
		}
		if got := e.scan(s2.Iter(e.ctx, nil, []byte("q"))); got != "a=2 h=1 k=1 m=2" {
			t.Fatalf("bounded scan: %s", got)
		}
		if got := e.scan(s2.IterReverse(e.ctx, []byte("r"), []byte("b"))); got != "q=1 m=2 k=1 h=1" {
			t.Fatalf("reverse scan: %s", got)
		}
		if got := e.scan(s2.IterReverse(e.ctx, nil, nil)); got != "z=1 r=2 q=1 m=2 k=1 h=1 a=2" {
			t.Fatalf("reverse scan of everything: %s", got)
		}
		s1.KeyOnly = true
		if got := e.scan(s1.Iter(e.ctx, nil, nil)); got != "a= c= h= k= q= z=" {
			t.Fatalf("key-only scan: %s", got)
		}
	})
}

// TestReadsResolveLocks: reads meeting locks resolve them: the secondary of
// a committed transaction is read through, an expired transaction's lock
// is rolled back, a large live transaction is pushed past the reader and
// skipped, and a scan meeting a lock reads that key alone.
func TestReadsResolveLocks(t *testing.T) {
	run(t, func(e *env) {
		e.write("a=old", "h=old", "q=old", "s=old")
		// Committed primary a, secondary h still locked.
		done := e.ts()
		e.prewrite(done, 3000, 0, "a=new", "h=new")
		doneAt := e.ts()
		if resp := e.c.Engine().Commit(&kvrpcpb.CommitRequest{StartVersion: done, CommitVersion: doneAt, Keys: [][]byte{[]byte("a")}}); resp.Error != nil {
			t.Fatal(resp.Error)
		}
		// Expired txn on q.
		dead := e.ts()
		e.prewrite(dead, 10, 0, "q=dead")
		// Large live txn on s (min_commit_ts set: it can be pushed).
		live := e.ts()
		e.prewrite(live, 60000, live+1, "s=live")
		_ = e.r.Sleep(e.ctx, 100*time.Millisecond)
		s := e.snap(e.ts())
		start := e.w.Elapsed()
		for key, want := range map[string]string{"h": "new", "q": "old", "s": "old"} {
			v, err := s.Get(e.ctx, []byte(key))
			if err != nil || string(v) != want {
				t.Errorf("Get %s = %q, %v; want %s", key, v, err, want)
			}
		}
		if waited := e.w.Elapsed() - start; waited > time.Second {
			t.Fatalf("reads took %v: the live lock should have been pushed, not waited for", waited)
		}
		// Fresh locks for the batch and scan paths.
		done2 := e.ts()
		e.prewrite(done2, 3000, 0, "b=new", "i=new", "r=new")
		done2At := e.ts()
		if resp := e.c.Engine().Commit(&kvrpcpb.CommitRequest{StartVersion: done2, CommitVersion: done2At, Keys: [][]byte{[]byte("b")}}); resp.Error != nil {
			t.Fatal(resp.Error)
		}
		s = e.snap(e.ts())
		got, err := s.BatchGet(e.ctx, [][]byte{[]byte("i"), []byte("r"), []byte("s")})
		if err != nil || string(got["i"]) != "new" || string(got["r"]) != "new" || string(got["s"]) != "old" {
			t.Fatalf("BatchGet = %v, %v", got, err)
		}
		done3 := e.ts()
		e.prewrite(done3, 3000, 0, "c=new", "j=new", "t=")
		done3At := e.ts()
		if resp := e.c.Engine().Commit(&kvrpcpb.CommitRequest{StartVersion: done3, CommitVersion: done3At, Keys: [][]byte{[]byte("c")}}); resp.Error != nil {
			t.Fatal(resp.Error)
		}
		s = e.snap(e.ts())
		if got := e.scan(s.Iter(e.ctx, []byte("i"), []byte("u"))); got != "i=new j=new q=old r=new s=old" {
			t.Fatalf("scan through locks: %s", got)
		}
	})
}

// TestReadCommittedSkipsLocks: at RC a read does not meet locks.
func TestReadCommittedSkipsLocks(t *testing.T) {
	run(t, func(e *env) {
		e.write("a=1")
		e.prewrite(e.ts(), 60000, 0, "a=2")
		s := e.snap(e.ts())
		s.IsolationLevel = kvrpcpb.IsolationLevel_RC
		start := e.w.Elapsed()
		if v, err := s.Get(e.ctx, []byte("a")); err != nil || string(v) != "1" {
			t.Fatalf("RC Get = %q, %v", v, err)
		}
		if e.w.Elapsed()-start > time.Second {
			t.Fatal("RC read waited for a lock")
		}
	})
}

// TestReadsAcrossSplit: a batch get whose cached regions split meanwhile
// regroups its keys and returns every one.
func TestReadsAcrossSplit(t *testing.T) {
	run(t, func(e *env) {
		e.write("h=1", "k=1", "n=1")
		s := e.snap(e.ts())
		if _, err := s.Get(e.ctx, []byte("h")); err != nil { // warm the cache
			t.Fatal(err)
		}
		if err := e.c.Split([]byte("j")); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Split([]byte("m")); err != nil {
			t.Fatal(err)
		}
		got, err := s.BatchGet(e.ctx, [][]byte{[]byte("h"), []byte("k"), []byte("n")})
		if err != nil || len(got) != 3 {
			t.Fatalf("BatchGet after splits = %v, %v", got, err)
		}
		if got := e.scan(s.Iter(e.ctx, []byte("g"), nil)); got != "h=1 k=1 n=1" {
			t.Fatalf("scan after splits: %s", got)
		}
	})
}
