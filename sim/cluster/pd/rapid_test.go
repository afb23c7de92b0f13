package pd

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"pgregory.net/rapid"
)

// TestRapidTSOMonotonic: across random interleavings of allocation, clock
// movement, ticks, leader changes, crashes, restarts and physical jumps,
// every batch starts strictly above everything handed out before, and the
// TSO is live again once time moves on.
func TestRapidTSOMonotonic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := base
		p := New(now, Config{Seed: rapid.Uint64().Draw(t, "seed")})
		hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
		var last uint64
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3:
				count := uint32(rapid.OneOf(rapid.Uint32Range(1, 10), rapid.Uint32Range(1, 1<<18-1)).Draw(t, "count"))
				resp, err := p.Tso(now, &pdpb.TsoRequest{Header: hdr, Count: count})
				if err != nil {
					se, ok := err.(*StatusError)
					if !ok || (!se.RetryLater && p.LeaderID() != 0) {
						t.Fatalf("unexpected error %v", err)
					}
					continue
				}
				lastTS := ComposeTS(resp.GetTimestamp().GetPhysical(), resp.GetTimestamp().GetLogical())
				first := lastTS - uint64(count) + 1
				if first <= last {
					t.Fatalf("batch [%d, %d] not above %d", first, lastTS, last)
				}
				if resp.GetTimestamp().GetLogical() >= 1<<18 {
					t.Fatalf("logical overflow in %v", resp.GetTimestamp())
				}
				last = lastTS
			case 4:
				now = now.Add(time.Duration(rapid.Int64Range(0, int64(5*time.Second)).Draw(t, "advance")))
			case 5:
				now = now.Add(DefaultTSOUpdatePhysicalInterval)
				p.Tick(now)
			case 6:
				p.ChangeLeader(now, 0)
			case 7:
				if rapid.Bool().Draw(t, "crash") {
					p.Crash()
				} else {
					p.Restart(now)
				}
			case 8:
				p.JumpTSOPhysical(time.Duration(rapid.Int64Range(-int64(time.Hour), int64(time.Hour)).Draw(t, "jump")))
			case 9:
				resp, err := p.GetMinTS(now, &pdpb.GetMinTSRequest{Header: hdr})
				if err == nil && resp.GetTimestamp().GetPhysical() != 0 {
					ts := ComposeTS(resp.GetTimestamp().GetPhysical(), resp.GetTimestamp().GetLogical())
					if ts <= last {
						t.Fatalf("min ts %d not above %d", ts, last)
					}
					last = ts
				}
			}
		}
		if p.MaxIssuedTS() != last {
			t.Fatalf("ghost max %d, test saw %d", p.MaxIssuedTS(), last)
		}
		// Liveness: with a leader and time moving on, TSO works.
		if p.LeaderID() == 0 {
			p.Restart(now)
		}
		now = now.Add(4 * time.Second)
		p.Tick(now)
		if _, err := p.Tso(now, &pdpb.TsoRequest{Header: hdr, Count: 1}); err != nil {
			t.Fatalf("tso not live: %v", err)
		}
	})
}

// modelRegion and regionModel are an independent, list-based model of PD's
// region cache: the same acceptance rule (pkg/core/region.go check), no tree.
type modelRegion struct {
	id, ver, conf, term uint64
	start, end          string
}

type regionModel map[uint64]modelRegion

func intersects(a, b modelRegion) bool {
	aEndAfterBStart := a.end == "" || a.end > b.start
	bEndAfterAStart := b.end == "" || b.end > a.start
	return aEndAfterBStart && bEndAfterAStart
}

func (m regionModel) apply(r modelRegion) bool {
	origin, ok := m[r.id]
	if !ok || origin.start != r.start || origin.end != r.end {
		for id, o := range m {
			if id != r.id && intersects(o, r) && r.ver < o.ver {
				return false
			}
		}
	}
	if ok && ((r.term > 0 && r.term < origin.term) || r.ver < origin.ver || r.conf < origin.conf) {
		return false
	}
	for id, o := range m {
		if id != r.id && intersects(o, r) {
			delete(m, id)
		}
	}
	m[r.id] = r
	return true
}

func (m regionModel) sorted() []modelRegion {
	out := make([]modelRegion, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

func (m regionModel) find(key string) (modelRegion, bool) {
	for _, r := range m {
		if r.start <= key && (r.end == "" || key < r.end) {
			return r, true
		}
	}
	return modelRegion{}, false
}

// TestRapidRegionTreeModel drives PD's region tree and the model with the
// same random heartbeats and compares acceptance, contents and lookups.
func TestRapidRegionTreeModel(t *testing.T) {
	keys := []string{"", "a", "b", "c", "d", "e", "f", "g"}
	rapid.Check(t, func(t *rapid.T) {
		now := base
		p := New(now, Config{Seed: 1, NoKeyspaceRegionSplit: true})
		hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
		if _, err := p.Bootstrap(now, &pdpb.BootstrapRequest{Header: hdr,
			Store:  &metapb.Store{Id: 1, Address: "s1", Version: "9.0.0"},
			Region: &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 1, StoreId: 1}}}}); err != nil {
			t.Fatal(err)
		}
		model := regionModel{1: {id: 1, ver: 1, conf: 1}}
		for range rapid.IntRange(1, 60).Draw(t, "n") {
			si := rapid.IntRange(0, len(keys)-1).Draw(t, "start")
			ei := rapid.IntRange(0, len(keys)-1).Draw(t, "end")
			if ei != 0 && ei <= si {
				continue
			}
			r := modelRegion{id: rapid.Uint64Range(1, 6).Draw(t, "id"), ver: rapid.Uint64Range(1, 6).Draw(t, "ver"),
				conf: rapid.Uint64Range(1, 3).Draw(t, "conf"), term: rapid.Uint64Range(0, 4).Draw(t, "term"),
				start: keys[si], end: keys[ei]}
			resp, err := p.RegionHeartbeat(now, &pdpb.RegionHeartbeatRequest{Header: hdr, Term: r.term,
				Region: &metapb.Region{Id: r.id, StartKey: []byte(r.start), EndKey: []byte(r.end),
					RegionEpoch: &metapb.RegionEpoch{Version: r.ver, ConfVer: r.conf}, Peers: []*metapb.Peer{{Id: r.id, StoreId: 1}}},
				Leader: &metapb.Peer{Id: r.id, StoreId: 1}})
			if err != nil {
				t.Fatal(err)
			}
			accepted := resp == nil
			if want := model.apply(r); want != accepted {
				t.Fatalf("heartbeat %+v: pd accepted=%v, model %v (%v)", r, accepted, want, resp.GetHeader().GetError())
			}
			// Contents agree.
			got := p.RegionIDs()
			var want []uint64
			for _, mr := range model.sorted() {
				want = append(want, mr.id)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("pd regions %v, model %v", got, want)
			}
			// Lookups agree.
			for _, k := range append(keys, "zz") {
				g, _ := p.GetRegion(now, &pdpb.GetRegionRequest{Header: hdr, RegionKey: []byte(k)})
				mr, ok := model.find(k)
				if ok != (g.GetRegion() != nil) || (ok && g.GetRegion().GetId() != mr.id) {
					t.Fatalf("GetRegion(%q): pd %v, model %v %v", k, g.GetRegion(), ok, mr)
				}
				if ok && (!bytes.Equal(g.GetRegion().GetStartKey(), []byte(mr.start)) || g.GetRegion().GetRegionEpoch().GetVersion() != mr.ver) {
					t.Fatalf("GetRegion(%q): pd %v, model %v", k, g.GetRegion(), mr)
				}
			}
		}
	})
}

// TestRapidDeterministic runs one random script of commands (the datadriven
// vocabulary) on two PDs built from the same seed: the transcripts match.
func TestRapidDeterministic(t *testing.T) {
	cmd := func(c string, kv ...string) *datadriven.TestData {
		d := &datadriven.TestData{Cmd: c}
		for i := 0; i+1 < len(kv); i += 2 {
			d.CmdArgs = append(d.CmdArgs, datadriven.CmdArg{Key: kv[i], Vals: []string{kv[i+1]}})
		}
		return d
	}
	rapid.Check(t, func(rt *rapid.T) {
		seed := fmt.Sprint(rapid.Uint64().Draw(rt, "seed"))
		script := []*datadriven.TestData{cmd("new", "seed", seed, "max-peers", "1"), cmd("bootstrap"),
			cmd("put-store", "id", "2"), cmd("put-store", "id", "3")}
		keys := []string{"", "b", "d", "f", "h"}
		for range rapid.IntRange(1, 40).Draw(rt, "n") {
			k := func(l string) string { return keys[rapid.IntRange(0, len(keys)-1).Draw(rt, l)] }
			switch rapid.IntRange(0, 9).Draw(rt, "cmd") {
			case 0:
				script = append(script, cmd("tso", "count", fmt.Sprint(rapid.IntRange(1, 1000).Draw(rt, "count"))))
			case 1:
				script = append(script, cmd("tick", "d", "700ms"))
			case 2:
				script = append(script, cmd("leader-change"))
			case 3:
				s, e := k("s"), k("e")
				st := fmt.Sprint(rapid.IntRange(1, 3).Draw(rt, "st"))
				script = append(script, cmd("heartbeat", "id", fmt.Sprint(rapid.IntRange(2, 5).Draw(rt, "id")),
					"start", s, "end", e, "ver", fmt.Sprint(rapid.IntRange(1, 4).Draw(rt, "ver")),
					"stores", st, "leader", st))
			case 4:
				script = append(script, cmd("scatter", "ids", fmt.Sprint(rapid.IntRange(2, 5).Draw(rt, "sid")), "group", "g"))
			case 5:
				script = append(script, cmd("split", "keys", k("sk")), cmd("ready"))
			case 6:
				script = append(script, cmd("advance-txn", "target", fmt.Sprint(rapid.IntRange(0, 100).Draw(rt, "txn"))))
			case 7:
				script = append(script, cmd("set-barrier", "id", "b", "ts", fmt.Sprint(rapid.IntRange(0, 100).Draw(rt, "bts")), "ttl", "5"))
			case 8:
				script = append(script, cmd("batch-scan", "ranges", "-"), cmd("regions"))
			case 9:
				script = append(script, cmd("poll", "job", "1"), cmd("operator", "id", "3"), cmd("all-gc-states"))
			}
		}
		run := func() []string {
			e := &env{}
			var out []string
			for _, d := range script {
				out = append(out, e.handle(t, d))
			}
			return out
		}
		a, b := run(), run()
		for i := range a {
			if a[i] != b[i] {
				rt.Fatalf("step %d (%s): %q vs %q", i, script[i].Cmd, a[i], b[i])
			}
		}
	})
}
