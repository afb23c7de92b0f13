package sender_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// rewriter is a test-only transport: it forwards every request to the fake
// cluster, then replaces the response by the next queued region error or
// send error, if any. It stands in for client-go's failpoints and
// hand-made region errors for the kinds no topology change produces
// (DiskFull, RecoveryInProgress, Flashback*, IsWitness, ...).
type rewriter struct {
	tr transport.Transport

	mu       sync.Mutex
	errs     []*errorpb.Error
	sendErrs []error
	sent     int
	addrs    []string
}

func (r *rewriter) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	r.mu.Lock()
	r.sent++
	r.addrs = append(r.addrs, addr)
	var e *errorpb.Error
	var se error
	if len(r.sendErrs) > 0 {
		se, r.sendErrs = r.sendErrs[0], r.sendErrs[1:]
	} else if len(r.errs) > 0 {
		e, r.errs = r.errs[0], r.errs[1:]
	}
	r.mu.Unlock()
	if se != nil {
		return nil, se
	}
	resp, err := r.tr.SendRequest(ctx, addr, req, timeout)
	if err != nil || e == nil {
		return resp, err
	}
	return tikvrpc.GenRegionErrorResp(req, e)
}

func (r *rewriter) Close() error { return r.tr.Close() }

type env struct {
	w     *sim.World
	net   *network.Network
	c     *cluster.Cluster
	rt    rt.Runtime
	cache *locate.Cache
	tr    *rewriter
	s     *sender.Sender
	ctx   context.Context
}

func (e *env) bo() *retry.Backoffer {
	return retry.NewBackoffer(e.ctx, 20000, retry.Env{Clock: e.rt, Rand: e.rt.NewRand()})
}

func (e *env) locate(t *testing.T, key string) *locate.KeyLocation {
	t.Helper()
	loc, err := e.cache.LocateKey(e.ctx, nil, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// run boots a 3-store cluster split at "g" and "p", a region cache and a
// sender on it, and runs body as the main task.
func run(t *testing.T, seed uint64, body func(e *env)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	cache := locate.New(r, sender.RegionSource(c.NewPDClient("app")), locate.Options{})
	tr := &rewriter{tr: c.NewTransport("app")}
	e := &env{w: w, net: net, c: c, rt: r, cache: cache, tr: tr, s: sender.New(cache, tr), ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func rawGet(key string) *tikvrpc.Request {
	return tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte(key)})
}

func rawPut(key, value string) *tikvrpc.Request {
	return tikvrpc.NewRequest(tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte(key), Value: []byte(value)})
}

// outcome is what Send did with a region error.
type outcome int

const (
	retried    outcome = iota // resent by the sender itself; the caller sees success
	handedBack                // returned with the region error: the caller relocates
	failed                    // returned an error
)

func (o outcome) String() string { return [...]string{"retried", "handed back", "failed"}[o] }

// TestRegionErrorActions is the table of client-go's onRegionError actions
// for leader routing (internal/locate/region_request.go): for every region
// error kind, which backoff config the sender sleeps on, whether it resends
// at once or hands the error back to the caller, and whether the cached
// region stays valid.
func TestRegionErrorActions(t *testing.T) {
	leaderOf := func(e *env, key string) *metapb.Peer {
		r, leader := e.c.Region([]byte(key))
		for _, p := range r.Peers {
			if p.StoreId == leader {
				return p
			}
		}
		return nil
	}
	cases := []struct {
		name        string
		err         func(e *env) *errorpb.Error
		backoff     string // config slept on once, "" for none
		out         outcome
		invalidated bool
		is          error // the error must match it (failed only)
		undetermind bool
	}{
		{name: "NotLeader with leader", err: func(e *env) *errorpb.Error {
			return &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: leaderOf(e, "a")}}
		}, out: retried},
		{name: "NotLeader without leader", err: func(*env) *errorpb.Error { return &errorpb.Error{NotLeader: &errorpb.NotLeader{}} },
			backoff: "regionScheduling", out: retried},
		{name: "DiskFull", err: func(*env) *errorpb.Error { return &errorpb.Error{DiskFull: &errorpb.DiskFull{StoreId: []uint64{1}}} },
			backoff: "tikvDiskFull", out: retried},
		{name: "RecoveryInProgress", err: func(*env) *errorpb.Error { return &errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}} },
			backoff: "regionRecoveryInProgress", out: handedBack, invalidated: true},
		{name: "IsWitness", err: func(*env) *errorpb.Error { return &errorpb.Error{IsWitness: &errorpb.IsWitness{}} },
			backoff: "isWitness", out: handedBack, invalidated: true},
		{name: "FlashbackInProgress", err: func(*env) *errorpb.Error {
			return &errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{RegionId: 2}}
		}, out: failed, is: tikverr.ErrRegionFlashbackInProgress},
		{name: "FlashbackNotPrepared", err: func(*env) *errorpb.Error {
			return &errorpb.Error{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{RegionId: 2}}
		}, out: failed, is: tikverr.ErrRegionFlashbackNotPrepared},
		{name: "RegionNotFound", err: func(*env) *errorpb.Error { return &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}} },
			out: handedBack, invalidated: true},
		{name: "KeyNotInRegion", err: func(*env) *errorpb.Error { return &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}} },
			out: handedBack, invalidated: true},
		{name: "EpochNotMatch without regions", err: func(*env) *errorpb.Error { return &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}} },
			out: handedBack, invalidated: true},
		{name: "BucketVersionNotMatch", err: func(*env) *errorpb.Error {
			return &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{Version: 1}}
		}, out: handedBack},
		{name: "ServerIsBusy", err: func(*env) *errorpb.Error { return &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "busy"}} },
			backoff: "tikvServerBusy", out: retried},
		{name: "StaleCommand", err: func(*env) *errorpb.Error { return &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}} },
			backoff: "staleCommand", out: retried},
		{name: "StoreNotMatch", err: func(*env) *errorpb.Error { return &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}} },
			out: handedBack, invalidated: true},
		{name: "RaftEntryTooLarge", err: func(*env) *errorpb.Error { return &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}} },
			out: failed, is: sender.ErrRaftEntryTooLarge},
		{name: "MaxTimestampNotSynced", err: func(*env) *errorpb.Error {
			return &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}
		}, backoff: "maxTsNotSynced", out: retried},
		{name: "RegionNotInitialized", err: func(*env) *errorpb.Error {
			return &errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}
		}, backoff: "regionNotInitialized", out: retried},
		{name: "ReadIndexNotReady", err: func(*env) *errorpb.Error { return &errorpb.Error{ReadIndexNotReady: &errorpb.ReadIndexNotReady{}} },
			backoff: "regionScheduling", out: retried},
		{name: "ProposalInMergingMode", err: func(*env) *errorpb.Error {
			return &errorpb.Error{ProposalInMergingMode: &errorpb.ProposalInMergingMode{}}
		}, backoff: "regionScheduling", out: retried},
		{name: "DataIsNotReady", err: func(*env) *errorpb.Error { return &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}} },
			out: retried},
		{name: "MismatchPeerId", err: func(*env) *errorpb.Error { return &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}} },
			out: handedBack, invalidated: true},
		{name: "UndeterminedResult", err: func(*env) *errorpb.Error {
			return &errorpb.Error{Message: "apply result unknown", UndeterminedResult: &errorpb.UndeterminedResult{}}
		}, out: failed, undetermind: true},
		{name: "unknown", err: func(*env) *errorpb.Error { return &errorpb.Error{Message: "something new"} },
			out: handedBack, invalidated: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, uint64(100+i), func(e *env) {
				loc := e.locate(t, "a")
				e.tr.errs = []*errorpb.Error{tc.err(e)}
				bo := e.bo()
				resp, rpc, err := e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, time.Second)
				got := retried
				if err != nil {
					got = failed
				} else if re, _ := resp.GetRegionError(); re != nil {
					got = handedBack
				}
				if got != tc.out {
					t.Fatalf("outcome %v (err %v, resp %v), want %v", got, err, resp, tc.out)
				}
				want := map[string]int{}
				if tc.backoff != "" {
					want[tc.backoff] = 1
				}
				if times := bo.GetBackoffTimes(); !maps.Equal(times, want) {
					t.Errorf("backoffs %v, want %v", times, want)
				}
				if tc.out == retried && e.tr.sent < 2 {
					t.Errorf("sent %d times, want a resend", e.tr.sent)
				}
				if tc.out != retried && e.tr.sent != 1 {
					t.Errorf("sent %d times, want 1", e.tr.sent)
				}
				if tc.out != failed && rpc == nil {
					t.Error("no RPC context returned")
				}
				valid := e.cache.IsValid(e.cache.CachedRegion(loc.Region))
				if valid == tc.invalidated {
					t.Errorf("region valid=%v after the error, want invalidated=%v", valid, tc.invalidated)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %v, want %v", err, tc.is)
				}
				if tc.undetermind != tikverr.IsErrUndetermined(err) {
					t.Errorf("error %v: undetermined=%v", err, !tc.undetermind)
				}
			})
		})
	}
}

// TestDataIsNotReadyBacksOffTheSecondTime: retried at once the first time
// (client-go), backed off after (leader-only routing would spin).
func TestDataIsNotReadyBacksOffTheSecondTime(t *testing.T) {
	run(t, 1, func(e *env) {
		loc := e.locate(t, "a")
		dnr := &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}
		e.tr.errs = []*errorpb.Error{dnr, dnr, dnr}
		bo := e.bo()
		if _, _, err := e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, time.Second); err != nil {
			t.Fatal(err)
		}
		if got := bo.GetBackoffTimes(); got["dataNotReady"] != 2 || e.tr.sent != 4 {
			t.Fatalf("backoffs %v after %d sends", got, e.tr.sent)
		}
	})
}

// TestBackoffBudgetExhausted: a region error that keeps coming back ends in
// the budget error once the Backoffer's budget is spent (client-go
// BoTiKVServerBusy loop).
func TestBackoffBudgetExhausted(t *testing.T) {
	run(t, 2, func(e *env) {
		loc := e.locate(t, "a")
		for range 100 {
			e.tr.errs = append(e.tr.errs, &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}})
		}
		bo := retry.NewBackoffer(e.ctx, 2000, retry.Env{Clock: e.rt, Rand: e.rt.NewRand()})
		_, _, err := e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, time.Second)
		var be *retry.BudgetExceededError
		if !errors.As(err, &be) || !errors.Is(err, tikverr.ErrTiKVStaleCommand) {
			t.Fatalf("err %v, want a budget error for stale commands", err)
		}
		// The backoff errors name the RPC context (client-go
		// TestBackoffErrWithRPCContext).
		if !strings.Contains(err.Error(), "stale command") || !strings.Contains(err.Error(), "addr store") {
			t.Errorf("budget error does not name the RPC context: %v", err)
		}
	})
}

// TestSendFailures covers onSendFail: not-sent errors are retried after
// BoTiKVRPC; an undetermined failure is retried for reads and returned as
// undetermined for raw writes; a done ctx stops at once.
func TestSendFailures(t *testing.T) {
	notSent := &transport.SendError{Addr: "x", NotSent: true, Err: errors.New("connection refused")}
	lost := &transport.SendError{Addr: "x", Err: errors.New("deadline exceeded")}
	for _, tc := range []struct {
		name         string
		req          func() *tikvrpc.Request
		err          error
		ok, undeterm bool
	}{
		{"read, not sent", func() *tikvrpc.Request { return rawGet("a") }, notSent, true, false},
		{"read, lost", func() *tikvrpc.Request { return rawGet("a") }, lost, true, false},
		{"write, not sent", func() *tikvrpc.Request { return rawPut("a", "v") }, notSent, true, false},
		{"write, lost", func() *tikvrpc.Request { return rawPut("a", "v") }, lost, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, 3, func(e *env) {
				loc := e.locate(t, "a")
				e.tr.sendErrs = []error{tc.err}
				bo := e.bo()
				_, _, err := e.s.Send(e.ctx, bo, tc.req(), loc.Region, time.Second)
				if (err == nil) != tc.ok || tikverr.IsErrUndetermined(err) != tc.undeterm {
					t.Fatalf("err %v, want ok=%v undetermined=%v", err, tc.ok, tc.undeterm)
				}
				if tc.ok && bo.GetBackoffTimes()["tikvRPC"] != 1 {
					t.Errorf("backoffs %v, want one tikvRPC", bo.GetBackoffTimes())
				}
			})
		})
	}
	t.Run("ctx done", func(t *testing.T) {
		run(t, 4, func(e *env) {
			loc := e.locate(t, "a")
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			if _, _, err := e.s.Send(ctx, e.bo(), rawGet("a"), loc.Region, time.Second); !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v", err)
			}
			// A write whose ctx ends while it is in flight is undetermined
			// (client-go OnSendFailedWithCancelled, for a write).
			ctx, cancel = context.WithCancel(e.ctx)
			e.tr.tr = cancelling{e.tr.tr, cancel}
			if _, _, err := e.s.Send(ctx, e.bo(), rawPut("a", "v"), loc.Region, time.Second); !tikverr.IsErrUndetermined(err) || !errors.Is(err, context.Canceled) {
				t.Fatalf("write cancelled in flight: %v, want undetermined", err)
			}
		})
	})
}

// cancelling cancels a ctx when a request is sent.
type cancelling struct {
	transport.Transport
	cancel context.CancelFunc
}

func (c cancelling) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	c.cancel()
	return nil, &transport.SendError{Addr: addr, Err: context.Canceled}
}

// TestStaleRegionAnswersEpochNotMatch: a region no longer in the cache gets
// a fake EpochNotMatch without any send (client-go SendReqCtx with a nil
// RPC context).
func TestStaleRegionAnswersEpochNotMatch(t *testing.T) {
	run(t, 5, func(e *env) {
		loc := e.locate(t, "a")
		e.cache.InvalidateCachedRegion(loc.Region)
		resp, _, err := e.s.Send(e.ctx, e.bo(), rawGet("a"), loc.Region, time.Second)
		re, _ := resp.GetRegionError()
		if err != nil || re.GetEpochNotMatch() == nil || e.tr.sent != 0 {
			t.Fatalf("resp %v err %v after %d sends", resp, err, e.tr.sent)
		}
	})
}

// TestTopologyChangesThroughSender drives the real fake cluster into each
// region-error state and checks what the sender makes of it: leader moves
// are followed without handing back, splits and merges are handed back
// with the region refreshed, crashes and busy stores are waited out.
func TestTopologyChangesThroughSender(t *testing.T) {
	run(t, 6, func(e *env) {
		send := func(key string) (*tikvrpc.Response, error) {
			for range 10 {
				loc := e.locate(t, key)
				resp, _, err := e.s.Send(e.ctx, e.bo(), rawGet(key), loc.Region, 2*time.Second)
				if err != nil {
					return nil, err
				}
				if re, _ := resp.GetRegionError(); re == nil {
					return resp, nil
				}
			}
			return nil, fmt.Errorf("%s: still a region error after 10 relocations", key)
		}
		// Leader transfer: NotLeader with the new leader, followed at once.
		loc := e.locate(t, "a")
		_, leader := e.c.Region([]byte("a"))
		if err := e.c.TransferLeader([]byte("a"), leader%3+1); err != nil {
			t.Fatal(err)
		}
		bo := e.bo()
		resp, _, err := e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, time.Second)
		if re, _ := resp.GetRegionError(); err != nil || re != nil {
			t.Fatalf("after leader transfer: %v %v", re, err)
		}
		if len(bo.GetBackoffTimes()) != 0 {
			t.Errorf("leader change backed off: %v", bo.GetBackoffTimes())
		}
		if got := e.cache.CachedRegion(loc.Region).LeaderStoreID(); got != leader%3+1 {
			t.Errorf("cached leader %d, want %d", got, leader%3+1)
		}
		// Split: EpochNotMatch carries the new regions; the sender retries
		// when the key's new region is known, or hands back.
		loc = e.locate(t, "c")
		if err := e.c.Split([]byte("c")); err != nil {
			t.Fatal(err)
		}
		if _, err := send("d"); err != nil {
			t.Fatal(err)
		}
		if nl := e.locate(t, "d"); string(nl.StartKey) != "c" {
			t.Errorf("after split the cache has %q-%q for d", nl.StartKey, nl.EndKey)
		}
		_ = loc
		// Merge: the merged-away region is gone (RegionNotFound or
		// EpochNotMatch), the caller relocates.
		if err := e.c.Merge([]byte("c")); err != nil {
			t.Fatal(err)
		}
		if _, err := send("d"); err != nil {
			t.Fatal(err)
		}
		// Crash of the leader store: send failures, then a new leader.
		_, leader = e.c.Region([]byte("h"))
		if err := e.c.CrashStore(leader); err != nil {
			t.Fatal(err)
		}
		if _, err := send("h"); err != nil {
			t.Fatalf("after leader crash: %v", err)
		}
		_ = e.c.RestartStore(leader)
		// Busy store: ServerIsBusy until it recovers.
		_, leader = e.c.Region([]byte("q"))
		_ = e.c.SetBusy(leader, true)
		e.w.AfterFunc(3*time.Second, func() { _ = e.c.SetBusy(leader, false) })
		loc = e.locate(t, "q")
		bo = e.bo()
		if _, _, err := e.s.Send(e.ctx, bo, rawGet("q"), loc.Region, time.Second); err != nil {
			t.Fatalf("busy store: %v", err)
		}
		if bo.GetBackoffTimes()["tikvServerBusy"] == 0 {
			t.Errorf("no server-busy backoff: %v", bo.GetBackoffTimes())
		}
		// PD down while the cache is warm: sends still work.
		e.c.CrashPD()
		if _, err := send("q"); err != nil {
			t.Fatalf("PD down, cache warm: %v", err)
		}
		e.c.RestartPD()
	})
}

// TestPartitionsAndPD covers the network faults: a read to a store cut off
// from the client is retried (BoTiKVRPC, with the region reloaded) until the
// partition heals; a write whose request got through but whose response was
// lost is undetermined and not resent; with PD down a warm cache still
// routes, a cold one fails within the budget.
func TestPartitionsAndPD(t *testing.T) {
	run(t, 7, func(e *env) {
		_, leader := e.c.Region([]byte("a"))
		store := cluster.StoreNode(leader)
		_ = (network.Isolate{Node: store}).Apply(e.net)
		e.w.AfterFunc(3*time.Second, func() { _ = (network.Heal{}).Apply(e.net) })
		bo := e.bo()
		var err error
		for range 20 { // the caller's relocation loop
			loc := e.locate(t, "a")
			var resp *tikvrpc.Response
			resp, _, err = e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, 500*time.Millisecond)
			if err != nil {
				break
			}
			if re, _ := resp.GetRegionError(); re == nil {
				break
			}
		}
		if err != nil || bo.GetBackoffTimes()["tikvRPC"] == 0 {
			t.Fatalf("read across an isolated leader: %v, backoffs %v", err, bo.GetBackoffTimes())
		}
		// Response lost: the write ran once and is reported undetermined.
		_, leader = e.c.Region([]byte("b"))
		_ = (network.OneWay{From: cluster.StoreNode(leader), To: "app"}).Apply(e.net)
		loc := e.locate(t, "b")
		sent := e.tr.sent
		_, _, err = e.s.Send(e.ctx, e.bo(), rawPut("b", "1"), loc.Region, 500*time.Millisecond)
		if !tikverr.IsErrUndetermined(err) || e.tr.sent != sent+1 {
			t.Fatalf("lost response: %v after %d sends", err, e.tr.sent-sent)
		}
		_ = (network.Heal{}).Apply(e.net)
		// PD down: the warm cache routes; a cold cache exhausts its budget.
		e.c.CrashPD()
		if _, _, err := e.s.Send(e.ctx, e.bo(), rawGet("b"), e.locate(t, "b").Region, time.Second); err != nil {
			t.Fatalf("PD down, warm cache: %v", err)
		}
		cold := locate.New(e.rt, sender.RegionSource(e.c.NewPDClient("cold")), locate.Options{})
		short := retry.NewBackoffer(e.ctx, 3000, retry.Env{Clock: e.rt, Rand: e.rt.NewRand()})
		if _, err := cold.LocateKey(e.ctx, sender.PDBackoffer{Bo: short}, []byte("b")); err == nil {
			t.Fatal("PD down, cold cache located a key")
		}
		e.c.RestartPD()
	})
}

// TestNoReloadRegionWhenCtxCanceled (client-go): a send that fails because
// the caller gave up leaves the region cache alone.
func TestNoReloadRegionWhenCtxCanceled(t *testing.T) {
	run(t, 8, func(e *env) {
		loc := e.locate(t, "a")
		ctx, cancel := context.WithCancel(e.ctx)
		e.tr.tr = cancelling{e.tr.tr, cancel}
		_, _, err := e.s.Send(ctx, e.bo(), rawGet("a"), loc.Region, time.Second)
		if err == nil || !e.cache.IsValid(e.cache.CachedRegion(loc.Region)) {
			t.Fatalf("err %v; region valid=%v", err, e.cache.IsValid(e.cache.CachedRegion(loc.Region)))
		}
	})
}
