package txnkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// v2env is an API V2 cluster with two transactional keyspaces and a client
// in each, loaded by name over the simulated network.
type v2env struct {
	env
	cli2 *txnkv.Client
}

// runV2 boots an API V2 cluster, creates keyspaces ks1 and ks2 in PD, builds
// one client per keyspace with NewClientWithOpts(WithKeyspace) (retrying
// while PD has not split the keyspace's regions, when LoadKeyspace answers
// not found), splits ks1 at user keys splits, and runs body.
func runV2(t *testing.T, seed uint64, splits []string, body func(e *v2env)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{APIVersion: kvrpcpb.APIVersion_V2})
	r := clock.New(w)
	for _, name := range []string{"ks1", "ks2"} {
		if _, err := c.CreateKeyspace(name, false); err != nil {
			t.Fatal(err)
		}
	}
	newClient := func(ctx context.Context, name string) *txnkv.Client {
		for range 60 {
			cli, err := txnkv.NewClientWithOpts(ctx, txnkv.WithRuntime(r), txnkv.WithTransport(c.NewTransport("app-"+name)),
				txnkv.WithPD(c.NewPDClient("app-"+name)), txnkv.WithAPIVersion(kvrpcpb.APIVersion_V2), txnkv.WithKeyspace(name))
			if err == nil {
				return cli
			}
			_ = w.Sleep(ctx, time.Second)
		}
		t.Errorf("keyspace %s never loaded", name)
		return nil
	}
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := context.Background()
		e := &v2env{env: env{w: w, net: net, c: c, r: r, ctx: ctx}}
		if e.cli, e.cli2 = newClient(ctx, "ks1"), newClient(ctx, "ks2"); e.cli == nil || e.cli2 == nil {
			return
		}
		for _, s := range splits {
			if err := c.Split(e.wire(s)); err != nil {
				t.Errorf("split %s: %v", s, err)
				return
			}
		}
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// wire is the API V2 form of a user key of ks1: what the stores see.
func (e *v2env) wire(key string) []byte {
	return append(cluster.KeyspacePrefix(e.cli.KeyspaceID(), false), key...)
}

// scanAll reads every pair of cli's keyspace at a fresh timestamp with an
// unbounded iterator, forward or reverse.
func scanAll(t *testing.T, ctx context.Context, cli *txnkv.Client, reverse bool) []string {
	t.Helper()
	ts, err := cli.GetTimestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap := cli.GetSnapshot(ts)
	it, err := snap.Iter(ctx, nil, nil)
	if reverse {
		it, err = snap.IterReverse(ctx, nil, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for it.Valid() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
		if err := it.Next(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestAPIV2KeyspacesIsolated: two keyspaces hold the same user keys with
// different values; reads, batch reads and iterators in either direction
// see their own keyspace only, whatever lies in the other.
func TestAPIV2KeyspacesIsolated(t *testing.T) {
	runV2(t, 31, []string{"m"}, func(e *v2env) {
		if e.cli.APIVersion() != kvrpcpb.APIVersion_V2 || e.cli.KeyspaceMeta().GetName() != "ks1" || e.cli.KeyspaceID() == e.cli2.KeyspaceID() {
			t.Fatalf("clients: %v %v, ids %d %d", e.cli.APIVersion(), e.cli.KeyspaceMeta(), e.cli.KeyspaceID(), e.cli2.KeyspaceID())
		}
		for i, cli := range []*txnkv.Client{e.cli, e.cli2} {
			txn, err := cli.Begin(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"a", "m", "z"} {
				_ = txn.Set(k(key), k(fmt.Sprintf("%s%d", key, i+1)))
			}
			if i == 1 {
				_ = txn.Set(k("only2"), k("x"))
			}
			if err := txn.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		txn, _ := e.cli.Begin(e.ctx)
		if v, err := txn.Get(e.ctx, k("m")); err != nil || string(v) != "m1" {
			t.Fatalf("ks1 m = %q, %v", v, err)
		}
		if _, err := txn.Get(e.ctx, k("only2")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("ks1 sees ks2's key: %v", err)
		}
		m, err := txn.BatchGet(e.ctx, [][]byte{k("a"), k("z"), k("only2")})
		if err != nil || len(m) != 2 || string(m["a"]) != "a1" || string(m["z"]) != "z1" {
			t.Fatalf("ks1 BatchGet = %v, %v", m, err)
		}
		want1 := []string{"a=a1", "m=m1", "z=z1"}
		want2 := []string{"a=a2", "m=m2", "only2=x", "z=z2"}
		if got := scanAll(t, e.ctx, e.cli, false); fmt.Sprint(got) != fmt.Sprint(want1) {
			t.Fatalf("ks1 iter = %v, want %v", got, want1)
		}
		if got := scanAll(t, e.ctx, e.cli2, false); fmt.Sprint(got) != fmt.Sprint(want2) {
			t.Fatalf("ks2 iter = %v, want %v", got, want2)
		}
		if got := scanAll(t, e.ctx, e.cli2, true); fmt.Sprint(got) != "[z=z2 only2=x m=m2 a=a2]" {
			t.Fatalf("ks2 reverse iter = %v", got)
		}
		// The stores hold the prefixed keys, one per keyspace.
		snap := e.c.Engine().Snapshot()
		if v, ok := snap.Get(e.wire("m"), ^uint64(0)>>1); !ok || string(v) != "m1" {
			t.Fatalf("store holds %q for ks1's m", v)
		}
		if _, ok := snap.Get([]byte("m"), ^uint64(0)>>1); ok {
			t.Fatal("an unprefixed key was written")
		}
	})
}

// TestAPIV2IterStaysInKeyspace: with keys in the keyspaces on both sides
// (ks0 is DEFAULT, ks2 after), an unbounded iterator of ks1 stops at its
// keyspace's ends in both directions, across region boundaries.
func TestAPIV2IterStaysInKeyspace(t *testing.T) {
	runV2(t, 32, []string{"c", "x"}, func(e *v2env) {
		def, err := txnkv.NewClient(txnkv.WithRuntime(e.r), txnkv.WithTransport(e.c.NewTransport("app-default")), txnkv.WithPD(e.c.NewPDClient("app-default")),
			txnkv.WithAPIVersion(kvrpcpb.APIVersion_V2), txnkv.WithKeyspaceMeta(&keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 0}, Name: "DEFAULT"}))
		if err != nil {
			t.Fatal(err)
		}
		for _, cli := range []*txnkv.Client{def, e.cli2} {
			txn, _ := cli.Begin(e.ctx)
			_ = txn.Set(k(""+"\xff\xff"), k("high"))
			_ = txn.Set(k("\x00"), k("low"))
			if err := txn.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := scanAll(t, e.ctx, e.cli, false); len(got) != 0 {
			t.Fatalf("empty ks1 iterates %v", got)
		}
		txn, _ := e.cli.Begin(e.ctx)
		for _, key := range []string{"a", "c", "d", "x", "y"} {
			_ = txn.Set(k(key), k("v"))
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, e.ctx, e.cli, false); fmt.Sprint(got) != "[a=v c=v d=v x=v y=v]" {
			t.Fatalf("ks1 iter = %v", got)
		}
		if got := scanAll(t, e.ctx, e.cli, true); fmt.Sprint(got) != "[y=v x=v d=v c=v a=v]" {
			t.Fatalf("ks1 reverse iter = %v", got)
		}
		// The region cache holds user-key regions of ks1 only: three of
		// them, the first from -inf, the last to +inf.
		locs := e.cli.LocateKeyRangeForTest(e.ctx, t)
		if len(locs) != 3 || len(locs[0][0]) != 0 || string(locs[0][1]) != "c" || string(locs[2][0]) != "x" || len(locs[2][1]) != 0 {
			t.Fatalf("ks1 regions %q", locs)
		}
	})
}

// TestAPIV2CrashedTxnLockResolved: a transaction of ks1 that prewrote and
// crashed leaves locks; a reader of ks1 meets them (the lock info comes
// back with prefixed keys, decoded by the codec), checks the primary's
// status, rolls the transaction back once its TTL has expired and reads
// the value below. A reader of ks2 is not blocked by ks1's locks.
func TestAPIV2CrashedTxnLockResolved(t *testing.T) {
	runV2(t, 33, []string{"m"}, func(e *v2env) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("old-a"))
		_ = txn.Set(k("z"), k("old-z"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		start, err := e.cli.GetTimestamp(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"a", "z"} { // primary a, secondary z in another region
			resp := e.rawV2(t, key, tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: e.wire("a"), StartVersion: start, LockTtl: 3000,
				TxnSize: 2, MinCommitTs: start + 1, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: e.wire(key), Value: k("new-" + key)}}})
			if r := resp.Resp.(*kvrpcpb.PrewriteResponse); len(r.Errors) > 0 || r.RegionError != nil {
				t.Fatalf("prewrite %s: %v", key, r)
			}
		}
		// ks2's z is not ks1's z.
		if v, err := e.cli2.GetSnapshot(e.ts(t)).Get(e.ctx, k("z")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("ks2 z = %q, %v", v, err)
		}
		// A reader of z meets the secondary lock, whose primary a is alive:
		// it pushes the primary's min_commit_ts and reads below the lock
		// (client-go resolveLocksForRead), leaving it in place.
		v, err := e.cli.GetSnapshot(e.ts(t)).Get(e.ctx, k("z"))
		if err != nil || string(v) != "old-z" {
			t.Fatalf("read past the live lock: %q, %v", v, err)
		}
		if locks := e.c.Engine().Snapshot().Locks(); len(locks) != 2 {
			t.Fatalf("live locks were resolved: %v", locks)
		}
		// Once the TTL has expired, the reader rolls the crashed
		// transaction back: the primary by CheckTxnStatus, the secondary
		// it met by ResolveLock, both addressed by the decoded lock info.
		_ = e.w.Sleep(e.ctx, 4*time.Second)
		v, err = e.cli.GetSnapshot(e.ts(t)).Get(e.ctx, k("z"))
		if err != nil || string(v) != "old-z" {
			t.Fatalf("read through the expired lock: %q, %v", v, err)
		}
		if locks := e.c.Engine().Snapshot().Locks(); len(locks) != 0 {
			t.Fatalf("locks left after resolution: %v", locks)
		}
		st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), start, 0, k("a"))
		if err != nil || !st.IsRolledBack() {
			t.Fatalf("crashed txn status: %v, %v", st, err)
		}
		if v, err := e.cli.GetSnapshot(e.ts(t)).Get(e.ctx, k("a")); err != nil || string(v) != "old-a" {
			t.Fatalf("primary after rollback: %q, %v", v, err)
		}
	})
}

// rawV2 sends req to the leader of ks1's key through a separate transport,
// as another (crashing) V2 client of ks1 would; the body's keys must be
// prefixed already.
func (e *v2env) rawV2(t *testing.T, key string, typ tikvrpc.CmdType, body any) *tikvrpc.Response {
	t.Helper()
	reg, leader := e.c.Region(e.wire(key))
	var peer *metapb.Peer
	for _, p := range reg.Peers {
		if p.StoreId == leader {
			peer = p
		}
	}
	req := tikvrpc.NewRequest(typ, body, kvrpcpb.Context{RegionId: reg.Id, RegionEpoch: reg.RegionEpoch, Peer: peer,
		ApiVersion: kvrpcpb.APIVersion_V2, Keyspace: &kvrpcpb.Context_KeyspaceId{KeyspaceId: e.cli.KeyspaceID()}})
	resp, err := e.c.NewTransport("crasher").SendRequest(e.ctx, cluster.StoreNode(leader), req, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestAPIV2SplitAndConflict: a split inside the keyspace under a cached
// region (EpochNotMatch comes back with prefixed, encoded boundaries that
// the codec decodes), then two transactions writing one key: the second to
// commit fails with a write conflict naming the user key.
func TestAPIV2SplitAndConflict(t *testing.T) {
	runV2(t, 34, nil, func(e *v2env) {
		txn, _ := e.cli.Begin(e.ctx)
		for _, key := range []string{"a", "k", "t"} {
			_ = txn.Set(k(key), k("1"))
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		// The keyspace is one region; split it twice under the cache.
		if err := e.c.Split(e.wire("f")); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Split(e.wire("p")); err != nil {
			t.Fatal(err)
		}
		txn, _ = e.cli.Begin(e.ctx)
		for _, key := range []string{"a", "k", "t"} {
			_ = txn.Set(k(key), k("2"))
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatalf("commit across a split: %v", err)
		}
		if got := scanAll(t, e.ctx, e.cli, false); fmt.Sprint(got) != "[a=2 k=2 t=2]" {
			t.Fatalf("after split: %v", got)
		}
		locs := e.cli.LocateKeyRangeForTest(e.ctx, t)
		if len(locs) != 3 || string(locs[1][0]) != "f" || string(locs[1][1]) != "p" {
			t.Fatalf("regions after split %q", locs)
		}
		// Write conflict: t1 and t2 both write k; t2 commits first.
		t1, _ := e.cli.Begin(e.ctx)
		t2, _ := e.cli.Begin(e.ctx)
		_ = t1.Set(k("k"), k("t1"))
		_ = t2.Set(k("k"), k("t2"))
		if err := t2.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		err := t1.Commit(e.ctx)
		var wc *tikverr.ErrWriteConflict
		if !errors.As(err, &wc) || !bytes.Equal(wc.Key, k("k")) {
			t.Fatalf("conflicting commit: %v, want a write conflict on user key k", err)
		}
		// The same user key in ks2 does not conflict.
		t3, _ := e.cli2.Begin(e.ctx)
		_ = t3.Set(k("k"), k("t3"))
		if err := t3.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if v := e.getIn(t, e.cli, "k"); v != "t2" {
			t.Fatalf("ks1 k = %q", v)
		}
	})
}

func (e *v2env) getIn(t *testing.T, cli *txnkv.Client, key string) string {
	t.Helper()
	ts, err := cli.GetTimestamp(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cli.GetSnapshot(ts).Get(e.ctx, k(key))
	if err != nil && !isNotExist(err) {
		t.Fatal(err)
	}
	return string(v)
}

// noKeyspacePD hides the simulator PD adapter's LoadKeyspace capability.
type noKeyspacePD struct{ pd.Client }

// TestAPIV2Options covers the constructors' API-version checks.
func TestAPIV2Options(t *testing.T) {
	run(t, 35, func(e *env) {
		tr, pdc := e.c.NewTransport("x"), e.c.NewPDClient("x")
		v2 := txnkv.WithAPIVersion(kvrpcpb.APIVersion_V2)
		if _, err := txnkv.NewClient(txnkv.WithTransport(tr), txnkv.WithPD(pdc), v2); err == nil {
			t.Error("V2 without a keyspace accepted")
		}
		if _, err := txnkv.NewClientWithOpts(e.ctx, txnkv.WithTransport(tr), txnkv.WithPD(noKeyspacePD{pdc}), v2); err == nil {
			t.Error("V2 keyspace load through a PD edge without LoadKeyspace succeeded")
		}
		if _, err := txnkv.NewClientWithOpts(e.ctx, txnkv.WithTransport(tr), txnkv.WithPD(pdc), v2, txnkv.WithKeyspace("nope")); err == nil {
			t.Error("unknown keyspace loaded")
		}
		if _, err := txnkv.NewClient(txnkv.WithTransport(tr), txnkv.WithPD(pdc), txnkv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL)); err == nil {
			t.Error("V1TTL accepted for transactions")
		}
		meta := &keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 1 << 25}, Name: "big"}
		if _, err := txnkv.NewClient(txnkv.WithTransport(tr), txnkv.WithPD(pdc), v2, txnkv.WithKeyspaceMeta(meta)); err == nil {
			t.Error("keyspace id over 24 bits accepted")
		}
		v1, err := txnkv.NewClientWithOpts(e.ctx, txnkv.WithTransport(tr), txnkv.WithPD(pdc))
		if err != nil || v1.APIVersion() != kvrpcpb.APIVersion_V1 || v1.KeyspaceMeta() != nil {
			t.Errorf("V1 client: %v %v", v1, err)
		}
		// A V2 client against this V1 cluster: TiKV refuses the API
		// version, which reaches the caller as an error, not a hang.
		cli, err := txnkv.NewClient(txnkv.WithRuntime(e.r), txnkv.WithTransport(tr), txnkv.WithPD(pdc), v2,
			txnkv.WithKeyspaceMeta(&keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 1}, Name: "ks"}))
		if err != nil {
			t.Fatal(err)
		}
		ts, _ := cli.GetTimestamp(e.ctx)
		if _, err := cli.GetSnapshot(ts).Get(e.ctx, k("a")); err == nil || isNotExist(err) {
			t.Fatalf("V2 read of a V1 cluster: %v", err)
		}
	})
}
