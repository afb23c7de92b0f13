package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim/cluster/pd"
)

// v2Key returns the API V2 form of user key k in keyspace id.
func v2Key(id uint32, raw bool, k string) []byte { return append(KeyspacePrefix(id, raw), k...) }

// loadKeyspace polls LoadKeyspace over the simulated network until PD has
// split the keyspace's boundaries.
func (e *env) loadKeyspace(name string) uint32 {
	e.t.Helper()
	p := e.c.NewPDClient("client")
	for range 60 {
		m, err := p.LoadKeyspace(context.Background(), name)
		if err == nil {
			return m.GetId()
		}
		var pe *PDError
		if !errors.As(err, &pe) || pe.Err.GetType() != pdpb.ErrorType_ENTRY_NOT_FOUND {
			e.t.Fatalf("LoadKeyspace(%s): %v", name, err)
		}
		e.sleep(time.Second)
	}
	e.t.Fatalf("keyspace %s never loadable", name)
	return 0
}

// TestAPIV2Keyspaces: keyspaces created in PD are split at their
// memcomparable boundaries and served by LoadKeyspace over the network
// (ENTRY_NOT_FOUND until then); region checks compare every key, raw and
// transactional, in its encoded form.
func TestAPIV2Keyspaces(t *testing.T) {
	run(t, 1, Config{APIVersion: kvrpcpb.APIVersion_V2, SplitKeys: [][]byte{}}, func(e *env) {
		if _, err := e.c.NewPDClient("client").LoadKeyspace(context.Background(), "nope"); err == nil {
			e.t.Fatal("unknown keyspace loaded")
		}
		txnMeta, err := e.c.CreateKeyspace("txnks", false)
		if err != nil {
			t.Fatal(err)
		}
		rawMeta, err := e.c.CreateKeyspace("rawks", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.CreateKeyspace("txnks", false); err == nil {
			t.Fatal("duplicate keyspace created")
		}
		tid, rid := e.loadKeyspace("txnks"), e.loadKeyspace("rawks")
		if tid != txnMeta.GetId() || rid != rawMeta.GetId() || tid == rid {
			t.Fatalf("ids %d %d, created %d %d", tid, rid, txnMeta.GetId(), rawMeta.GetId())
		}
		// PD split the regions at both keyspaces' bounds, in encoded form.
		for _, b := range [][]byte{KeyspacePrefix(tid, false), KeyspacePrefix(tid+1, false), KeyspacePrefix(rid, true), KeyspacePrefix(rid+1, true)} {
			r, _ := e.c.Region(b)
			if !bytes.Equal(r.StartKey, codec.EncodeBytes(nil, b)) {
				t.Errorf("no region starts at keyspace bound %q: %q", b, r.StartKey)
			}
		}
		// A split at a prefixed key: the key itself belongs to the new
		// region (compared encoded; as given it would sort below the
		// boundary and be refused).
		split := v2Key(tid, false, "b")
		if err := e.c.Split(split); err != nil {
			t.Fatal(err)
		}
		ctx, leader := e.ctxFor(string(split))
		ctx.ApiVersion = kvrpcpb.APIVersion_V2
		resp, err := e.call(leader, &kvrpcpb.PrewriteRequest{Context: ctx, PrimaryLock: split, StartVersion: 10, LockTtl: 1000,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: split, Value: []byte("v")}}})
		if err != nil || regionError(resp) != nil || len(resp.(*kvrpcpb.PrewriteResponse).Errors) != 0 {
			t.Fatalf("prewrite at a region's start: %v %v", resp, err)
		}
		rawKey := v2Key(rid, true, "a")
		ctx, leader = e.ctxFor(string(rawKey))
		ctx.ApiVersion = kvrpcpb.APIVersion_V2
		resp, err = e.call(leader, &kvrpcpb.RawPutRequest{Context: ctx, Key: rawKey, Value: []byte("v")})
		if err != nil || regionError(resp) != nil || resp.(*kvrpcpb.RawPutResponse).Error != "" {
			t.Fatalf("raw put: %v %v", resp, err)
		}
		// Raw scans stop at the region's end, decoded to a raw key.
		resp, err = e.call(leader, &kvrpcpb.RawScanRequest{Context: ctx, StartKey: KeyspacePrefix(rid, true), EndKey: KeyspacePrefix(rid+1, true), Limit: 10})
		if err != nil || regionError(resp) != nil || len(resp.(*kvrpcpb.RawScanResponse).Kvs) != 1 {
			t.Fatalf("raw scan of the keyspace: %v %v", resp, err)
		}
	})
}

// TestAPIV2Rejects: TiKV's storage refuses a request whose API version does
// not match the storage's, or whose keys are not in the request's mode,
// before any region check (src/storage/mod.rs check_api_version).
func TestAPIV2Rejects(t *testing.T) {
	run(t, 2, Config{APIVersion: kvrpcpb.APIVersion_V2, SplitKeys: [][]byte{}}, func(e *env) {
		key := v2Key(0, true, "a")
		ctx, leader := e.ctxFor(string(key))
		// A V1 raw request to V2 storage.
		v1 := *ctx
		v1.ApiVersion = kvrpcpb.APIVersion_V1
		resp, err := e.call(leader, &kvrpcpb.RawPutRequest{Context: &v1, Key: key, Value: []byte("v")})
		if err != nil || !strings.Contains(resp.(*kvrpcpb.RawPutResponse).Error, "Api version in request does not match") {
			t.Fatalf("V1 raw put to V2 storage: %v %v", resp, err)
		}
		// A V2 raw request with a transactional key, sent to some other
		// region entirely: the key mode check comes first.
		v2 := *ctx
		v2.ApiVersion = kvrpcpb.APIVersion_V2
		resp, err = e.call(leader, &kvrpcpb.RawGetRequest{Context: &v2, Key: v2Key(0, false, "a")})
		if err != nil || regionError(resp) != nil || !strings.Contains(resp.(*kvrpcpb.RawGetResponse).Error, "Key mode mismatched") {
			t.Fatalf("raw get of an x key: %v %v", resp, err)
		}
		// A transactional V2 request with a raw key: an abort key error.
		resp, err = e.call(leader, &kvrpcpb.GetRequest{Context: &v2, Key: key, Version: 10})
		if err != nil || regionError(resp) != nil || !strings.Contains(resp.(*kvrpcpb.GetResponse).GetError().GetAbort(), "Key mode mismatched") {
			t.Fatalf("txn get of an r key: %v %v", resp, err)
		}
		resp, err = e.call(leader, &kvrpcpb.PrewriteRequest{Context: &v2, PrimaryLock: key, StartVersion: 10,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: key}}})
		if err != nil || len(resp.(*kvrpcpb.PrewriteResponse).Errors) != 1 {
			t.Fatalf("prewrite of an r key: %v %v", resp, err)
		}
		// An unbounded V2 raw scan (no end key) is refused.
		resp, err = e.call(leader, &kvrpcpb.RawScanRequest{Context: &v2, StartKey: key, Limit: 1})
		if kvs := resp.(*kvrpcpb.RawScanResponse).Kvs; err != nil || len(kvs) != 1 || kvs[0].GetError() == nil {
			t.Fatalf("unbounded V2 raw scan: %v %v", resp, err)
		}
		// Nothing was written.
		if v, ok := e.c.Engine().Snapshot().Get(key, 100); ok {
			t.Fatalf("refused prewrite wrote %q", v)
		}
	})
}

// TestAPIV2PDNotFoundUntilSplit: without the keyspace region split (PD
// Config.NoKeyspaceRegionSplit off in API V2), LoadKeyspace answers
// ENTRY_NOT_FOUND at first.
func TestAPIV2PDNotFoundUntilSplit(t *testing.T) {
	run(t, 3, Config{APIVersion: kvrpcpb.APIVersion_V2, SplitKeys: [][]byte{}}, func(e *env) {
		l, _ := pd.KeyspaceBounds(1, false)
		if _, err := e.c.CreateKeyspace("k", false); err != nil {
			t.Fatal(err)
		}
		var pe *PDError
		if _, err := e.c.NewPDClient("client").LoadKeyspace(context.Background(), "k"); !errors.As(err, &pe) {
			t.Fatalf("LoadKeyspace before the split: %v", err)
		}
		e.loadKeyspace("k")
		if r, _ := e.c.Region(KeyspacePrefix(1, false)); !bytes.Equal(r.StartKey, l) {
			t.Fatalf("keyspace 1 starts a region at %q, PD bound %q", r.StartKey, l)
		}
	})
}
