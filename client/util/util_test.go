package util_test

import (
	"context"
	"slices"
	"testing"
	"time"

	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/util"
)

// Port of client-go util TestGetRequestSource.
func TestGetRequestSource(t *testing.T) {
	rs := &util.RequestSource{RequestSourceInternal: true, RequestSourceType: "test", ExplicitRequestSourceType: "lightning"}
	check := func(want string) {
		t.Helper()
		if got := rs.GetRequestSource(); got != want {
			t.Fatalf("GetRequestSource() = %q, want %q", got, want)
		}
	}
	check("internal_test_lightning")
	rs.RequestSourceInternal = false
	check("external_test_lightning")
	rs = nil
	check("unknown")
	rs = &util.RequestSource{}
	check("unknown")
	rs.RequestSourceType = "test"
	check("external_test")
	rs.RequestSourceType = ""
	rs.ExplicitRequestSourceType = "lightning"
	check("external_unknown_lightning")
	// An explicit type equal to the type is not repeated.
	rs.SetRequestSourceType("br")
	rs.SetExplicitRequestSourceType("br")
	rs.SetRequestSourceInternal(true)
	check("internal_br")
}

// Port of client-go util TestBuildRequestSource.
func TestBuildRequestSource(t *testing.T) {
	for _, c := range []struct {
		internal     bool
		source, expl string
		want         string
	}{
		{true, "test", "lightning", "internal_test_lightning"},
		{false, "test", "lightning", "external_test_lightning"},
		{false, "test", "", "external_test"},
		{false, "", "lightning", "external_unknown_lightning"},
		{true, "", "", "unknown"},
	} {
		if got := util.BuildRequestSource(c.internal, c.source, c.expl); got != c.want {
			t.Errorf("BuildRequestSource(%v, %q, %q) = %q, want %q", c.internal, c.source, c.expl, got, c.want)
		}
	}
}

func TestRequestSourceContext(t *testing.T) {
	ctx := context.Background()
	if got := util.RequestSourceFromCtx(ctx); got != util.SourceUnknown {
		t.Fatalf("empty context source %q", got)
	}
	gc := util.WithInternalSourceType(ctx, util.InternalTxnGC)
	if got := util.RequestSourceFromCtx(gc); got != "internal_gc" || !util.IsInternalRequest(got) {
		t.Fatalf("internal gc source %q", got)
	}
	task := util.WithInternalSourceAndTaskType(ctx, util.InternalTxnStats, util.ExplicitTypeBR)
	if got := util.RequestSourceFromCtx(task); got != "internal_stats_br" {
		t.Fatalf("task source %q", got)
	}
	ext := util.WithRequestSource(ctx, util.RequestSource{RequestSourceType: "Select"})
	if got := util.RequestSourceFromCtx(ext); got != "external_Select" || util.IsInternalRequest(got) {
		t.Fatalf("external source %q", got)
	}
	if util.IsRequestSourceInternal(nil) || !util.IsRequestSourceInternal(&util.RequestSource{RequestSourceInternal: true, RequestSourceType: "x"}) {
		t.Fatal("IsRequestSourceInternal")
	}
	if l := util.ExplicitTypeList(); len(l) != 8 || l[0] != "" || !slices.Contains(l, util.ExplicitTypeImport) {
		t.Fatalf("ExplicitTypeList() = %q", l)
	}
}

func TestResourceGroupContext(t *testing.T) {
	ctx := context.Background()
	if util.ResourceGroupNameFromCtx(ctx) != "" || util.ResourceGroupTagFromCtx(ctx) != nil || util.ResourceGroupTaggerFromCtx(ctx) != nil {
		t.Fatal("empty context carries resource group settings")
	}
	ctx = util.WithResourceGroupName(ctx, "rg1")
	ctx = util.WithResourceGroupTag(ctx, []byte("tag"))
	called := false
	ctx = util.WithResourceGroupTagger(ctx, func(*tikvrpc.Request) { called = true })
	if util.ResourceGroupNameFromCtx(ctx) != "rg1" || string(util.ResourceGroupTagFromCtx(ctx)) != "tag" {
		t.Fatal("settings lost")
	}
	util.ResourceGroupTaggerFromCtx(ctx)(nil)
	if !called {
		t.Fatal("tagger not returned")
	}
	if got := util.ResourceGroupNameFromCtx(util.WithResourceGroupName(ctx, "rg2")); got != "rg2" {
		t.Fatalf("inner name %q, want rg2", got)
	}
}

func TestRUDetails(t *testing.T) {
	var nilDetails *util.RUDetails
	nilDetails.Update(&rmpb.Consumption{RRU: 1}, time.Second) // no panic
	if nilDetails.RRU() != 0 {
		t.Fatal("nil details read non-zero")
	}
	d := util.NewRUDetails()
	ctx := util.WithRUDetails(context.Background(), d)
	if util.RUDetailsFromCtx(ctx) != d || util.RUDetailsFromCtx(context.Background()) != nil {
		t.Fatal("RUDetailsFromCtx")
	}
	d.Update(&rmpb.Consumption{RRU: 1.5, WRU: 2}, time.Millisecond)
	d.Update(nil, time.Hour) // nothing, not even the wait
	d.Update(&rmpb.Consumption{RRU: 0.5}, 2*time.Millisecond)
	if d.RRU() != 2 || d.WRU() != 2 || d.RUWaitDuration() != 3*time.Millisecond {
		t.Fatalf("details %v", d)
	}
	c := d.Clone()
	c.Merge(util.NewRUDetailsWith(1, 1, time.Millisecond))
	if c.RRU() != 3 || c.WRU() != 3 || c.RUWaitDuration() != 4*time.Millisecond || d.RRU() != 2 {
		t.Fatalf("clone+merge %v, original %v", c, d)
	}
	if got, want := d.String(), "RRU:2.000000, WRU:2.000000, WaitDuration:3ms"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
