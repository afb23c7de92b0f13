package grpc

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// TestClassification covers every stage × cause.
func TestClassification(t *testing.T) {
	stages := []stage{stageQueued, stageAbandoned, stageSending, stageWritten}
	causes := []cause{causeCanceled, causeTimeout, causeNoStream, causeSendFailed, causeStreamBroken, causeClosed}
	// want[stage] lists the causes that are not sent; others are undetermined.
	want := map[stage][]cause{
		stageQueued:    causes,
		stageAbandoned: causes,
		stageSending:   {causeNoStream, causeSendFailed},
		stageWritten:   nil,
	}
	for _, s := range stages {
		for _, c := range causes {
			if got, w := notSent(s, c), slices.Contains(want[s], c); got != w {
				t.Errorf("notSent(%v, %v) = %v, want %v", s, c, got, w)
			}
		}
	}
}

func TestUnaryNotSent(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("%w: Empty", tikvrpc.ErrUnsupportedCmd), true},
		{status.Error(codes.Unavailable, "connection refused"), false},
		{status.Error(codes.Unimplemented, "no method"), false},
		{status.Error(codes.DeadlineExceeded, "deadline"), false},
		{errors.New("other"), false},
	}
	for _, c := range cases {
		if got := unaryNotSent(c.err); got != c.want {
			t.Errorf("unaryNotSent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func testEntry() *entry {
	return newEntry(&tikvpb.BatchCommandsRequest_Request{}, time.Time{})
}

func TestEntryStages(t *testing.T) {
	e := testEntry()
	if !e.claim() || e.abandon() || e.stage() != stageSending {
		t.Fatalf("claim then abandon: %v", e.stage())
	}
	e.fail(causeSendFailed, errors.New("x"))
	if r := <-e.res; !r.notSent {
		t.Fatal("send failure should be not sent")
	}
	e.written()
	e.fail(causeStreamBroken, errors.New("x"))
	if r := <-e.res; r.notSent {
		t.Fatal("written should be undetermined")
	}
	a := testEntry()
	if !a.abandon() || a.claim() || a.stage() != stageAbandoned {
		t.Fatalf("abandon then claim: %v", a.stage())
	}
}

func TestBuilder(t *testing.T) {
	var b builder
	es := []*entry{testEntry(), testEntry(), testEntry()}
	for _, e := range es {
		b.push(e)
	}
	es[1].abandon()
	req, claimed := b.build()
	if !slices.Equal(req.RequestIds, []uint64{1, 2}) || len(req.Requests) != 2 || !slices.Equal(claimed, []*entry{es[0], es[2]}) {
		t.Fatalf("build: ids %v, %d claimed", req.RequestIds, len(claimed))
	}
	if es[0].stage() != stageSending || es[1].stage() != stageAbandoned {
		t.Fatalf("stages %v %v", es[0].stage(), es[1].stage())
	}
	b.reset()
	if b.len() != 0 || len(b.req.Requests) != 0 {
		t.Fatal("reset left entries")
	}
	b.push(testEntry())
	if req, _ := b.build(); !slices.Equal(req.RequestIds, []uint64{3}) {
		t.Fatalf("ids continue across batches: %v", req.RequestIds)
	}
}

func TestInflight(t *testing.T) {
	tb := newInflight()
	es := []*entry{testEntry(), testEntry(), testEntry(), testEntry()}
	if err := tb.add([]uint64{7, 3, 9, 5}, es); err != nil {
		t.Fatal(err)
	}
	if e, ok := tb.take(3); !ok || e != es[1] {
		t.Fatal("take 3")
	}
	if _, ok := tb.take(3); ok {
		t.Fatal("take 3 twice")
	}
	if _, ok := tb.take(42); ok {
		t.Fatal("unknown id")
	}
	if got := tb.remove([]uint64{9, 42}); !slices.Equal(got, []*entry{es[2]}) {
		t.Fatalf("remove: %d", len(got))
	}
	if tb.len() != 2 {
		t.Fatalf("len %d", tb.len())
	}
	if got := tb.breakAll(); !slices.Equal(got, []*entry{es[3], es[0]}) {
		t.Fatal("breakAll not in id order")
	}
	if err := tb.add([]uint64{11}, es[:1]); !errors.Is(err, errStreamBroken) {
		t.Fatalf("add after break: %v", err)
	}
}

func TestIdleRules(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := time.Minute
	cases := []struct {
		active  int64
		last    time.Time
		timeout time.Duration
		want    bool
	}{
		{0, t0.Add(-3 * m), 3 * m, true},
		{0, t0.Add(-2 * m), 3 * m, false},
		{1, t0.Add(-9 * m), 3 * m, false},
		{0, t0.Add(-9 * m), -1, false},
	}
	for i, c := range cases {
		if got := idle(c.active, c.last, t0, c.timeout); got != c.want {
			t.Errorf("idle case %d = %v", i, got)
		}
	}
	if !sweepDue(t0.Add(-90*time.Second), t0, 3*m) || sweepDue(t0.Add(-89*time.Second), t0, 3*m) || sweepDue(time.Time{}, t0, -1) {
		t.Error("sweepDue")
	}
}

func TestCodec(t *testing.T) {
	var c codec
	in := &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v"), Ttl: 5}
	b, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &kvrpcpb.RawPutRequest{}
	if err := c.Unmarshal(b, out); err != nil || string(out.Key) != "k" || out.Ttl != 5 {
		t.Fatalf("round trip: %v %v", out, err)
	}
	if _, err := c.Marshal(42); err == nil {
		t.Fatal("marshal int")
	}
	if err := c.Unmarshal(b, new(int)); err == nil {
		t.Fatal("unmarshal int")
	}
	if c.Name() != "proto" {
		t.Fatal(c.Name())
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Compression: "zstd"},
		{Batch: BatchOptions{Policy: "nope"}},
		{Security: Security{CAPath: "/nonexistent/ca.pem"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	o, _, err := Options{}.withDefaults()
	if err != nil || o.ConnectionCount != DefaultConnectionCount || o.Batch.MaxBatchSize != DefaultMaxBatchSize || o.IdleTimeout != DefaultIdleTimeout {
		t.Fatalf("defaults: %+v %v", o, err)
	}
}
