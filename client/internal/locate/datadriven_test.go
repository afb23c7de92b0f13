package locate

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
)

// TestDataDriven runs the scripts in testdata/ against a Cache over a fakePD,
// each script inside one simulated world so that `advance` moves a virtual
// clock. Run with -rewrite to regenerate the expected output.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		w := sim.New(1, sim.Options{})
		r := clock.New(w)
		w.Spawn("main", func() {
			e := newDDEnv(r)
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return e.handle(t, d)
			})
		})
		if err := w.Run(); err != nil {
			t.Fatal(err)
		}
	})
}

// ddEnv is the state of one script: the fake PD, the cache, the clock, and
// the last RPCContext per region (what a request was routed with).
type ddEnv struct {
	r     rt.Runtime
	pd    *fakePD
	c     *Cache
	start time.Time
	rpc   map[uint64]*RPCContext
}

func newDDEnv(r rt.Runtime) *ddEnv {
	e := &ddEnv{r: r, pd: newFakePD(), start: r.Now(), rpc: map[uint64]*RPCContext{}}
	e.pd.clk = r
	e.c = New(r, e.pd, Options{TTL: 10 * time.Minute, TTLJitter: -1, PDRetry: RetryOptions{Attempts: 3}})
	return e
}

func hasArg(d *datadriven.TestData, key string) bool {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return true
		}
	}
	return false
}

func argStr(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

func argKey(d *datadriven.TestData, key string) []byte {
	s := argStr(d, key, "")
	if s == "" || s == "-" {
		return nil
	}
	return []byte(s)
}

func argU(t *testing.T, d *datadriven.TestData, key string, def uint64) uint64 {
	s := argStr(d, key, "")
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: bad %s=%q", d.Pos, key, s)
	}
	return v
}

func argList(d *datadriven.TestData, key string) []string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			var out []string
			for _, v := range a.Vals {
				out = append(out, strings.Split(v, ",")...)
			}
			return out
		}
	}
	return nil
}

func argU64s(t *testing.T, d *datadriven.TestData, key string) []uint64 {
	var out []uint64
	for _, s := range argList(d, key) {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad %s=%q", d.Pos, key, s)
		}
		out = append(out, v)
	}
	return out
}

// argRanges parses ranges=a-c,e-  (an empty end is +inf, an empty start -inf).
func argRanges(d *datadriven.TestData) []KeyRange {
	var out []KeyRange
	for _, s := range argList(d, "ranges") {
		a, b, _ := strings.Cut(s, "-")
		out = append(out, KeyRange{StartKey: []byte(a), EndKey: []byte(b)})
	}
	return out
}

func fmtKey(k []byte) string {
	if len(k) == 0 {
		return "-"
	}
	return string(k)
}

func fmtLoc(l *KeyLocation) string {
	s := fmt.Sprintf("r%d [%s,%s) ver=%d conf=%d", l.Region.id, fmtKey(l.StartKey), fmtKey(l.EndKey), l.Region.ver, l.Region.confVer)
	if l.Buckets != nil {
		s += fmt.Sprintf(" buckets=v%d", l.Buckets.Version)
	}
	return s
}

func (e *ddEnv) fmtRegion(r *Region) string {
	v := r.VerID()
	var b strings.Builder
	fmt.Fprintf(&b, "r%d [%s,%s) ver=%d conf=%d", v.id, fmtKey(r.StartKey()), fmtKey(r.EndKey()), v.ver, v.confVer)
	var peers []string
	for _, p := range r.Peers() {
		peers = append(peers, strconv.FormatUint(p.StoreId, 10))
	}
	fmt.Fprintf(&b, " stores=%s", strings.Join(peers, ","))
	if l := r.LeaderStoreID(); l != 0 {
		fmt.Fprintf(&b, " leader=%d", l)
	}
	if len(r.DownPeers()) > 0 {
		fmt.Fprintf(&b, " down=%d", len(r.DownPeers()))
	}
	if bk := r.Buckets(); bk != nil {
		fmt.Fprintf(&b, " buckets=v%d", bk.Version)
	}
	now := e.r.Now().UnixNano()
	switch {
	case r.InvalidReason() != Ok:
		fmt.Fprintf(&b, " invalid(%s)", r.InvalidReason())
	case r.isExpired(now):
		b.WriteString(" expired")
	default:
		fmt.Fprintf(&b, " ttl=%s", time.Duration(r.ttl.Load()-now))
	}
	f := r.flags.Load()
	for _, fl := range []struct {
		bit  int32
		name string
	}{{needReloadOnAccess, "reload"}, {needExpireAfterTTL, "expire-after-ttl"}, {needDelayedReloadPending, "delayed-pending"}, {needDelayedReloadReady, "delayed-ready"}} {
		if f&fl.bit != 0 {
			b.WriteString(" " + fl.name)
		}
	}
	return b.String()
}

func (e *ddEnv) dump() string {
	var b strings.Builder
	for _, r := range e.c.Regions() {
		b.WriteString(e.fmtRegion(r) + "\n")
	}
	if b.Len() == 0 {
		return "empty\n"
	}
	return b.String()
}

func errStr(err error) string { return "error: " + err.Error() }

// handle runs one command. Commands:
//
//	store id=1 [addr=s1] [tombstone] [labels=k=v,...]   put a store in PD
//	store-remove id=1                                    PD forgets the store
//	region id=1 [start=a] [end=m] stores=1,2,3 [leader=1] [ver=1] [conf=1] [down=3] [buckets=ver:k1,k2] [witness=2]
//	split id=1 at=m new=2 | merge src=2 dst=1 | transfer id=1 store=2
//	pd-snapshot | pd-lag n=2 | pd-fail n=1 | pd-delay d=10ms | calls
//	locate key=a [end] | locate-id id=1 | locate-id-pd id=1 | try-locate key=a
//	locate-range start=a end=z | batch-locate ranges=a-c,e-g [buckets] [leader]
//	group-keys keys=a,b,c | group-ranges ranges=a-c | list-ids start=a end=z | load-range start=a end=z
//	insert id=1 ...region args...   build from PD-style args and insert directly
//	rpc id=1 | not-leader id=1 [store=2] | send-fail id=1 [err] [reload]
//	epoch-not-match id=1 current=1,2 [tikv-ver=N]
//	invalidate id=1 [reason=NoLeader] | schedule-reload id=1 [delayed]
//	buckets-not-match id=1 ver=5 keys=a,c | locate-bucket key=b | update-buckets id=1 req=0 latest=5
//	liveness id=1 unreachable|reachable | store-check [all] | stores
//	resolve id=1 | mark-need-check id=1
//	advance d=10m | gc [limit=50] | cache | clear
func (e *ddEnv) handle(t *testing.T, d *datadriven.TestData) string {
	ctx := context.Background()
	switch d.Cmd {
	case "store":
		s := &metapb.Store{Id: argU(t, d, "id", 0), Address: argStr(d, "addr", "s"+argStr(d, "id", ""))}
		if hasArg(d, "tombstone") {
			s.State = metapb.StoreState_Tombstone
		}
		for _, l := range argList(d, "labels") {
			k, v, _ := strings.Cut(l, "=")
			s.Labels = append(s.Labels, &metapb.StoreLabel{Key: k, Value: v})
		}
		e.pd.putStore(s)
		return "ok"
	case "store-remove":
		e.pd.removeStore(argU(t, d, "id", 0))
		return "ok"
	case "region":
		e.putRegion(t, d)
		return "ok"
	case "split":
		return okOrErr(e.pd.split(argU(t, d, "id", 0), argU(t, d, "new", 0), argKey(d, "at")))
	case "merge":
		return okOrErr(e.pd.merge(argU(t, d, "src", 0), argU(t, d, "dst", 0)))
	case "transfer":
		return okOrErr(e.pd.transferLeader(argU(t, d, "id", 0), argU(t, d, "store", 0)))
	case "pd-snapshot":
		e.pd.snapshot()
		return "ok"
	case "pd-lag":
		e.pd.lag(int(argU(t, d, "n", 1)))
		return "ok"
	case "pd-hide":
		e.pd.mu.Lock()
		e.pd.hide[argU(t, d, "id", 0)] = int(argU(t, d, "n", 1))
		e.pd.mu.Unlock()
		return "ok"
	case "pd-fail":
		e.pd.failNext(int(argU(t, d, "n", 1)))
		return "ok"
	case "pd-delay":
		dur, _ := time.ParseDuration(argStr(d, "d", "0s"))
		e.pd.mu.Lock()
		e.pd.delay = dur
		e.pd.mu.Unlock()
		return "ok"
	case "calls":
		return e.pd.takeCalls()
	case "locate":
		var loc *KeyLocation
		var err error
		if hasArg(d, "end") {
			loc, err = e.c.LocateEndKey(ctx, nil, argKey(d, "key"))
		} else {
			loc, err = e.c.LocateKey(ctx, nil, argKey(d, "key"))
		}
		if err != nil {
			return errStr(err)
		}
		return fmtLoc(loc)
	case "locate-id", "locate-id-pd":
		f := e.c.LocateRegionByID
		if d.Cmd == "locate-id-pd" {
			f = e.c.LocateRegionByIDFromPD
		}
		loc, err := f(ctx, nil, argU(t, d, "id", 0))
		if err != nil {
			return errStr(err)
		}
		return fmtLoc(loc)
	case "try-locate":
		if loc := e.c.TryLocateKey(argKey(d, "key")); loc != nil {
			return fmtLoc(loc)
		}
		return "miss"
	case "locate-range":
		locs, err := e.c.LocateKeyRange(ctx, nil, argKey(d, "start"), argKey(d, "end"))
		return fmtLocs(locs, err)
	case "batch-locate":
		locs, err := e.c.BatchLocateKeyRanges(ctx, nil, argRanges(d), BatchOptions{NeedBuckets: hasArg(d, "buckets"), NeedLeader: hasArg(d, "leader")})
		return fmtLocs(locs, err)
	case "group-keys":
		var keys [][]byte
		for _, k := range argList(d, "keys") {
			keys = append(keys, []byte(k))
		}
		groups, first, err := e.c.GroupKeysByRegion(ctx, nil, keys, nil)
		if err != nil {
			return errStr(err)
		}
		var lines []string
		for id, ks := range groups {
			var ss []string
			for _, k := range ks {
				ss = append(ss, string(k))
			}
			lines = append(lines, fmt.Sprintf("r%d: %s", id.id, strings.Join(ss, ",")))
		}
		sort.Strings(lines)
		return fmt.Sprintf("first=r%d\n%s", first.id, strings.Join(lines, "\n"))
	case "group-ranges":
		gs, err := e.c.GroupRangesByRegion(ctx, nil, argRanges(d))
		if err != nil {
			return errStr(err)
		}
		var b strings.Builder
		for _, g := range gs {
			fmt.Fprintf(&b, "r%d:", g.Location.Region.id)
			for _, kr := range g.Ranges {
				fmt.Fprintf(&b, " [%s,%s)", fmtKey(kr.StartKey), fmtKey(kr.EndKey))
			}
			b.WriteString("\n")
		}
		return b.String()
	case "list-ids":
		ids, err := e.c.ListRegionIDsInKeyRange(ctx, nil, argKey(d, "start"), argKey(d, "end"))
		if err != nil {
			return errStr(err)
		}
		return fmt.Sprint(ids)
	case "load-range":
		rs, err := e.c.LoadRegionsInKeyRange(ctx, nil, argKey(d, "start"), argKey(d, "end"))
		if err != nil {
			return errStr(err)
		}
		var b strings.Builder
		for _, r := range rs {
			b.WriteString(e.fmtRegion(r) + "\n")
		}
		return b.String()
	case "insert":
		pr := e.pd.putRegionTo(t, d, false)
		r, err := e.c.newRegion(ctx, e.c.backoffer(nil), pr)
		if err != nil {
			return errStr(err)
		}
		if e.c.insert(r, true) {
			return "inserted"
		}
		return "stale"
	case "rpc":
		return e.doRPC(t, d)
	case "not-leader":
		rpc := e.mustRPC(t, d)
		var leader *metapb.Peer
		if s := argU(t, d, "store", 0); s != 0 {
			leader = &metapb.Peer{Id: peerID(rpc.Region.id, s), StoreId: s}
		}
		e.c.UpdateLeader(rpc.Region, leader, rpc.AccessIdx)
		return e.dump()
	case "send-fail":
		rpc := e.mustRPC(t, d)
		var err error
		if hasArg(d, "err") {
			err = errPDUnavailable
		}
		e.c.OnSendFail(rpc, hasArg(d, "reload"), err)
		return e.dump()
	case "epoch-not-match":
		rpc := e.mustRPC(t, d)
		var cur []*metapb.Region
		for _, id := range argU64s(t, d, "current") {
			m := e.pd.get(id).Region
			m = proto.Clone(m).(*metapb.Region)
			if v := argU(t, d, "tikv-ver", 0); v != 0 && id == rpc.Region.id {
				m.RegionEpoch.Version = v
			}
			cur = append(cur, m)
		}
		retry, err := e.c.OnRegionEpochNotMatch(ctx, nil, rpc, cur)
		if err != nil {
			return errStr(err)
		}
		return fmt.Sprintf("retry=%v\n%s", retry, e.dump())
	case "invalidate":
		r := e.cachedByID(t, d)
		reason := Other
		for x := Ok; x <= Other; x++ {
			if x.String() == argStr(d, "reason", "Other") {
				reason = x
			}
		}
		e.c.InvalidateCachedRegionWithReason(r.VerID(), reason)
		return e.dump()
	case "schedule-reload":
		e.c.ScheduleReload(e.cachedByID(t, d).VerID(), hasArg(d, "delayed"))
		return e.dump()
	case "buckets-not-match":
		rpc := e.mustRPC(t, d)
		var keys [][]byte
		for _, k := range argList(d, "keys") {
			keys = append(keys, []byte(k))
		}
		e.c.OnBucketVersionNotMatch(rpc, argU(t, d, "ver", 0), keys)
		return e.dump()
	case "locate-bucket":
		loc, err := e.c.LocateKey(ctx, nil, argKey(d, "key"))
		if err != nil {
			return errStr(err)
		}
		b := loc.LocateBucket(argKey(d, "key"))
		if b == nil {
			return "nil"
		}
		return fmt.Sprintf("[%s,%s)", fmtKey(b.StartKey), fmtKey(b.EndKey))
	case "update-buckets":
		r := e.cachedByID(t, d)
		ev := e.r.NewEvent()
		started := false
		e.c.UpdateBucketsIfNeeded(r.VerID(), argU(t, d, "req", 0), argU(t, d, "latest", 0), func() { ev.Fire() })
		if _, busy := e.c.buckets.Load(r.ID()); busy {
			started = true
			_ = ev.Wait(ctx)
		}
		return fmt.Sprintf("reloaded=%v\n%s", started, e.dump())
	case "liveness":
		s, ok := e.c.Stores().Get(argU(t, d, "id", 0))
		if !ok {
			return "no such store"
		}
		l := Reachable
		if hasArg(d, "unreachable") {
			l = Unreachable
		}
		s.SetLiveness(l, e.r.Now())
		return s.String()
	case "store-check":
		all := hasArg(d, "all")
		err := e.c.Stores().CheckAndResolve(ctx, func(s ResolveState) bool { return s == NeedCheck || (all && s == Resolved) })
		out := e.stores()
		if err != nil {
			out = errStr(err) + "\n" + out
		}
		return out
	case "resolve":
		st := e.c.Stores().getOrInsert(argU(t, d, "id", 0))
		addr, err := e.c.Stores().Resolve(ctx, nil, st)
		if err != nil {
			return errStr(err)
		}
		return fmt.Sprintf("addr=%q %s", addr, st.ResolveState())
	case "mark-need-check":
		st, ok := e.c.Stores().Get(argU(t, d, "id", 0))
		if !ok {
			return "no such store"
		}
		e.c.Stores().MarkNeedCheck(st)
		return st.ResolveState().String()
	case "stores":
		return e.stores()
	case "advance":
		dur, err := time.ParseDuration(argStr(d, "d", "0s"))
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		_ = e.r.Sleep(ctx, dur)
		return fmt.Sprintf("now=+%s", e.r.Now().Sub(e.start))
	case "gc":
		n := e.c.GCRound(int(argU(t, d, "limit", 50)))
		return fmt.Sprintf("removed=%d\n%s", n, e.dump())
	case "cache":
		return e.dump()
	case "new-cache":
		ttl, _ := time.ParseDuration(argStr(d, "ttl", "10m"))
		jitter, _ := time.ParseDuration(argStr(d, "jitter", "0s"))
		if jitter == 0 {
			jitter = -1
		}
		e.c = New(e.r, e.pd, Options{TTL: ttl, TTLJitter: jitter, PDRetry: RetryOptions{Attempts: 3}})
		return "ok"
	case "clear":
		e.c.Clear()
		return "ok"
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
		return ""
	}
}

func okOrErr(err error) string {
	if err != nil {
		return errStr(err)
	}
	return "ok"
}

func fmtLocs(locs []*KeyLocation, err error) string {
	if err != nil {
		return errStr(err)
	}
	var b strings.Builder
	for _, l := range locs {
		b.WriteString(fmtLoc(l) + "\n")
	}
	return b.String()
}

func (e *ddEnv) stores() string {
	var b strings.Builder
	for _, s := range e.c.Stores().List() {
		fmt.Fprintf(&b, "store %d addr=%s %s %s epoch=%d\n", s.ID(), s.Addr(), s.ResolveState(), s.Liveness(), s.Epoch())
	}
	return b.String()
}

func (e *ddEnv) putRegion(t *testing.T, d *datadriven.TestData) { e.pd.putRegionTo(t, d, true) }

// putRegionTo builds a region from the script's args and, with store, puts
// it into PD's layout.
func (p *fakePD) putRegionTo(t *testing.T, d *datadriven.TestData, store bool) *pdpb.Region {
	id := argU(t, d, "id", 0)
	pr := buildRegion(id, argKey(d, "start"), argKey(d, "end"), argU(t, d, "ver", 1), argU(t, d, "conf", 1), argU64s(t, d, "stores"), argU(t, d, "leader", 0))
	for _, s := range argU64s(t, d, "down") {
		pr.DownPeers = append(pr.DownPeers, &pdpb.PeerStats{Peer: &metapb.Peer{Id: peerID(id, s), StoreId: s}})
	}
	for _, s := range argU64s(t, d, "witness") {
		for _, pe := range pr.Region.Peers {
			if pe.StoreId == s {
				pe.IsWitness = true
			}
		}
	}
	if b := argList(d, "buckets"); len(b) > 0 {
		ver, first, _ := strings.Cut(b[0], ":")
		v, _ := strconv.ParseUint(ver, 10, 64)
		keys := [][]byte{[]byte(first)}
		for _, k := range b[1:] {
			keys = append(keys, []byte(k))
		}
		pr.Buckets = &metapb.Buckets{RegionId: id, Version: v, Keys: keys}
	}
	if store {
		p.mu.Lock()
		p.regions[id] = pr
		p.mu.Unlock()
	}
	return pr
}

// cachedByID returns the cached region with the script's id.
func (e *ddEnv) cachedByID(t *testing.T, d *datadriven.TestData) *Region {
	id := argU(t, d, "id", 0)
	e.c.mu.RLock()
	r := e.c.idx.byID[id]
	e.c.mu.RUnlock()
	if r == nil {
		t.Fatalf("%s: region %d not cached", d.Pos, id)
	}
	return r
}

// doRPC routes a request to region id's cached version and remembers the
// context for the feedback commands.
func (e *ddEnv) doRPC(t *testing.T, d *datadriven.TestData) string {
	id := argU(t, d, "id", 0)
	e.c.mu.RLock()
	r := e.c.idx.byID[id]
	e.c.mu.RUnlock()
	if r == nil {
		return "not cached"
	}
	rpc, err := e.c.GetRPCContext(context.Background(), nil, r.VerID())
	if err != nil {
		return errStr(err)
	}
	if rpc == nil {
		return "nil (relocate)\n" + e.dump()
	}
	e.rpc[id] = rpc
	return fmt.Sprintf("r%d ver=%d peer=%d store=%d addr=%s idx=%d tikv=%d bucket-ver=%d",
		id, rpc.Region.ver, rpc.Peer.Id, rpc.Peer.StoreId, rpc.Addr, rpc.AccessIdx, rpc.TiKVNum, rpc.BucketVersion)
}

func (e *ddEnv) mustRPC(t *testing.T, d *datadriven.TestData) *RPCContext {
	rpc := e.rpc[argU(t, d, "id", 0)]
	if rpc == nil {
		t.Fatalf("%s: no rpc for region; run `rpc id=...` first", d.Pos)
	}
	return rpc
}
