package sender_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

func defaultKeyspace() *keyspacepb.KeyspaceMeta {
	return &keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 0}, Name: "DEFAULT"}
}

// runV2 is run on an API V2 cluster split at user keys "g" and "p" of the
// DEFAULT keyspace, with a V2 codec on the sender and the region source.
// It waits until PD has split the keyspace's own boundaries.
func runV2(t *testing.T, seed uint64, body func(e *env, codec *apicodec.Codec)) {
	t.Helper()
	codec, err := apicodec.NewCodecV2(apicodec.ModeRaw, defaultKeyspace())
	if err != nil {
		t.Fatal(err)
	}
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{APIVersion: kvrpcpb.APIVersion_V2,
		SplitKeys: [][]byte{codec.EncodeKey([]byte("g")), codec.EncodeKey([]byte("p"))}})
	r := clock.New(w)
	cache := locate.New(r, sender.CodecRegionSource(c.NewPDClient("app"), codec), locate.Options{})
	tr := &rewriter{tr: c.NewTransport("app")}
	e := &env{w: w, net: net, c: c, rt: r, cache: cache, tr: tr, s: sender.NewWithCodec(cache, tr, codec), ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		// PD splits the keyspace boundaries within a few heartbeats.
		_ = w.Sleep(e.ctx, 30*time.Second)
		body(e, codec)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestCodecSenderV2: requests travel prefixed, responses and region
// boundaries come back in user keys, and every region lookup of the cache
// (by key, by end key, by id, by range) stays inside the keyspace.
func TestCodecSenderV2(t *testing.T) {
	runV2(t, 11, func(e *env, codec *apicodec.Codec) {
		if e.s.Codec() != codec {
			t.Fatal("Codec() is not the sender's codec")
		}
		loc := e.locate(t, "h")
		if string(loc.StartKey) != "g" || string(loc.EndKey) != "p" {
			t.Fatalf("region of h in user keys: %q-%q", loc.StartKey, loc.EndKey)
		}
		put := tikvrpc.NewRequest(tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("h"), Value: []byte("v")})
		if _, _, err := e.s.Send(e.ctx, e.bo(), put, loc.Region, time.Second); err != nil {
			t.Fatal(err)
		}
		if put.Req.(*kvrpcpb.RawPutRequest).Key[0] != 'h' {
			t.Fatal("the caller's request was encoded in place")
		}
		scan := tikvrpc.NewRequest(tikvrpc.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte("h"), EndKey: []byte("i"), Limit: 10})
		resp, _, err := e.s.Send(e.ctx, e.bo(), scan, loc.Region, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		kvs := resp.Resp.(*kvrpcpb.RawScanResponse).Kvs
		if len(kvs) != 1 || string(kvs[0].Key) != "h" {
			t.Fatalf("scan answered %v, want user key h", kvs)
		}
		// The first and last regions of the keyspace end at its bounds.
		first := e.locate(t, "")
		if len(first.StartKey) != 0 || string(first.EndKey) != "g" {
			t.Fatalf("first region %q-%q", first.StartKey, first.EndKey)
		}
		byID, err := e.cache.LocateRegionByIDFromPD(e.ctx, nil, loc.Region.ID())
		if err != nil || string(byID.StartKey) != "g" {
			t.Fatalf("region by id %v, %v", byID, err)
		}
		locs, err := e.cache.BatchLocateKeyRanges(e.ctx, nil, []locate.KeyRange{{StartKey: nil, EndKey: nil}}, locate.BatchOptions{})
		if err != nil || len(locs) != 3 || len(locs[2].EndKey) != 0 {
			t.Fatalf("batch locate of the keyspace: %v, %v", locs, err)
		}
		last, err := e.cache.LocateEndKey(e.ctx, nil, nil)
		if err != nil || string(last.StartKey) != "p" || len(last.EndKey) != 0 {
			t.Fatalf("last region %v, %v", last, err)
		}
		// An EpochNotMatch after a split comes back with user-key regions,
		// which refresh the cache (the key moved: handed back).
		if err := e.c.Split(codec.EncodeKey([]byte("k"))); err != nil {
			t.Fatal(err)
		}
		get := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("h")})
		resp, _, err = e.s.Send(e.ctx, e.bo(), get, loc.Region, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if re, _ := resp.GetRegionError(); re.GetEpochNotMatch() == nil || string(re.GetEpochNotMatch().CurrentRegions[0].StartKey) != "g" {
			t.Fatalf("split answered %v, want EpochNotMatch with user-key regions", re)
		}
		if nl := e.locate(t, "h"); string(nl.EndKey) != "k" {
			t.Fatalf("after split h is in %q-%q", nl.StartKey, nl.EndKey)
		}
	})
}

// fakeRegions is a pd edge answering canned regions, for the decode edge
// cases no cluster produces.
type fakeRegions struct {
	region *pdpb.Region
	err    error
}

func (f fakeRegions) GetRegion(context.Context, []byte, bool) (*pdpb.Region, error) {
	return f.region, f.err
}
func (f fakeRegions) GetPrevRegion(context.Context, []byte, bool) (*pdpb.Region, error) {
	return f.region, f.err
}
func (f fakeRegions) GetRegionByID(context.Context, uint64, bool) (*pdpb.Region, error) {
	return f.region, f.err
}
func (f fakeRegions) BatchScanRegions(context.Context, []*pdpb.KeyRange, int, bool) ([]*pdpb.Region, error) {
	if f.err != nil {
		return nil, f.err
	}
	return []*pdpb.Region{f.region}, nil
}
func (f fakeRegions) GetStore(context.Context, uint64) (*metapb.Store, error) {
	return nil, pd.ErrStoreNotFound
}
func (f fakeRegions) GetAllStores(context.Context) ([]*metapb.Store, error) { return nil, nil }

func TestCodecRegionSourceEdges(t *testing.T) {
	codec, _ := apicodec.NewCodecV2(apicodec.ModeRaw, defaultKeyspace())
	ctx := context.Background()
	// A region of another keyspace is unknown here.
	other, _ := apicodec.NewCodecV2(apicodec.ModeRaw, &keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 7}, Name: "x"})
	s, e := other.EncodeRegionRange([]byte("a"), []byte("b"))
	src := sender.CodecRegionSource(fakeRegions{region: &pdpb.Region{Region: &metapb.Region{Id: 9, StartKey: s, EndKey: e}}}, codec)
	if r, err := src.GetRegion(ctx, []byte("a"), false); err != nil || r != nil {
		t.Fatalf("foreign region: %v, %v", r, err)
	}
	if rs, err := src.BatchScanRegions(ctx, []*pdpb.KeyRange{{}}, 1, false); err != nil || len(rs) != 0 {
		t.Fatalf("foreign region in a scan: %v, %v", rs, err)
	}
	// A malformed boundary is a decode error, not a retry.
	bad := sender.CodecRegionSource(fakeRegions{region: &pdpb.Region{Region: &metapb.Region{Id: 9, StartKey: []byte("r\x00\x00")}}}, codec)
	if _, err := bad.GetRegionByID(ctx, 9, false); !apicodec.IsDecodeError(err) {
		t.Fatalf("malformed boundary: %v", err)
	}
	if _, err := bad.BatchScanRegions(ctx, []*pdpb.KeyRange{{}}, 1, false); !apicodec.IsDecodeError(err) {
		t.Fatalf("malformed boundary in a scan: %v", err)
	}
	// Buckets are decoded with the region.
	s, e = codec.EncodeRegionRange([]byte("a"), []byte("z"))
	withBuckets := sender.CodecRegionSource(fakeRegions{region: &pdpb.Region{
		Region:  &metapb.Region{Id: 9, StartKey: s, EndKey: e},
		Buckets: &metapb.Buckets{RegionId: 9, Version: 1, Keys: [][]byte{s, codec.EncodeRegionKey([]byte("m")), e}}}}, codec)
	r, err := withBuckets.GetPrevRegion(ctx, []byte("b"), true)
	if err != nil || !bytes.Equal(r.Buckets.Keys[1], []byte("m")) || string(r.Region.StartKey) != "a" {
		t.Fatalf("buckets: %v, %v", r, err)
	}
	// Errors pass through, and unknown stores map to locate's sentinel.
	boom := errors.New("pd down")
	failing := sender.CodecRegionSource(fakeRegions{err: boom}, codec)
	for _, f := range []func() error{
		func() error { _, err := failing.GetRegion(ctx, nil, false); return err },
		func() error { _, err := failing.GetPrevRegion(ctx, nil, false); return err },
		func() error { _, err := failing.GetRegionByID(ctx, 1, false); return err },
		func() error { _, err := failing.BatchScanRegions(ctx, nil, 1, false); return err },
	} {
		if err := f(); !errors.Is(err, boom) {
			t.Fatalf("error %v, want %v", err, boom)
		}
	}
	if _, err := failing.GetStore(ctx, 1); !errors.Is(err, locate.ErrStoreNotFound) {
		t.Fatalf("GetStore: %v", err)
	}
	// A nil codec is the plain adapter.
	if _, ok := sender.CodecRegionSource(fakeRegions{}, nil).(interface{ codecOnly() }); ok {
		t.Fatal("unexpected type")
	}
}
