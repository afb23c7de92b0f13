package locate

// Table tests ported from client-go internal/locate/region_cache_test.go
// (facts only; see docs/test-port.md for the mapping).

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"
)

func bareRegion(start, end []byte) *Region {
	r := &Region{meta: &metapb.Region{StartKey: start, EndKey: end, RegionEpoch: &metapb.RegionEpoch{}}}
	r.state.Store(&regionState{})
	return r
}

func keys(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// Port of TestContains and TestContainsByEnd.
func TestContains(t *testing.T) {
	b := func(v ...byte) []byte { return v }
	cases := []struct {
		start, end, key []byte
		in, inByEnd     bool
	}{
		{nil, nil, b(), true, true},
		{nil, nil, b(10), true, true},
		{b(10), nil, b(), false, true},
		{b(10), nil, b(9), false, false},
		{b(10), nil, b(10), true, false},
		{b(10), nil, b(11), true, true},
		{nil, b(10), b(), true, false},
		{nil, b(10), b(9), true, true},
		{nil, b(10), b(10), false, true},
		{nil, b(10), b(11), false, false},
		{b(10), b(20), b(), false, false},
		{b(10), b(20), b(15), true, true},
		{b(10), b(20), b(30), false, false},
	}
	for _, c := range cases {
		r := bareRegion(c.start, c.end)
		require.Equal(t, c.in, r.Contains(c.key), "%v Contains %v", r, c.key)
		require.Equal(t, c.inByEnd, r.ContainsByEnd(c.key), "%v ContainsByEnd %v", r, c.key)
		l := locationOf(r)
		require.Equal(t, c.in, l.Contains(c.key))
		require.Equal(t, c.inByEnd, l.ContainsByEnd(c.key))
	}
}

// Port of TestSplitKeyRanges (rangesAfterKey).
func TestRangesAfterKey(t *testing.T) {
	check := func(rs, split, want string) {
		t.Helper()
		ks := keys(rs)
		var ranges []KeyRange
		for i := 0; i < len(ks); i += 2 {
			ranges = append(ranges, KeyRange{[]byte(ks[i]), []byte(strings.Trim(ks[i+1], "_"))})
		}
		var got []string
		for _, r := range rangesAfterKey(ranges, []byte(split)) {
			got = append(got, string(r.StartKey), string(r.EndKey))
		}
		require.Equal(t, keys(want), got, "ranges %q split %q", rs, split)
	}
	check("a c", "a", "a c")
	check("b c", "a", "b c")
	check("a c", "b", "b c")
	check("a c", "c", "")
	check("a c", "", "")
	check("a _", "b", "b ")
	check("a _", "", "")
	check("a b c f", "a1", "a1 b c f")
	check("a b c f", "b", "c f")
	check("a b c f", "b1", "c f")
	check("a b c f", "c", "c f")
	check("a b c f", "d", "d f")
	require.Nil(t, rangesAfterKey(nil, []byte("a")))
}

// Port of TestRangesAreCoveredCheck (regionsHaveGap).
func TestRegionsHaveGap(t *testing.T) {
	split := func(s string) [][]byte {
		var out [][]byte
		for _, k := range keys(s) {
			out = append(out, []byte(strings.Trim(k, "_")))
		}
		return out
	}
	check := func(rs, regions string, limit int, want bool) {
		t.Helper()
		var ranges []KeyRange
		ks := split(rs)
		for i := 0; i < len(ks); i += 2 {
			ranges = append(ranges, KeyRange{ks[i], ks[i+1]})
		}
		var prs []*pdpb.Region
		ks = split(regions)
		for i := 0; i < len(ks); i += 2 {
			prs = append(prs, &pdpb.Region{Region: &metapb.Region{StartKey: ks[i], EndKey: ks[i+1]}})
		}
		require.Equal(t, want, regionsHaveGap(ranges, prs, limit), "ranges %q regions %q limit %d", rs, regions, limit)
	}
	for _, bc := range []string{"a c", "a b b c", "a a1 a1 b b b1 b1 c"} {
		check(bc, "a c", -1, false)
		check(bc, "a _", -1, false)
		check(bc, "_ c", -1, false)
		check(bc, "a b", -1, true)
		check(bc, "b c", -1, true)
		check(bc, "b _", -1, true)
		check(bc, "_ b", -1, true)
		check(bc, "a b b c", -1, false)
		check(bc, "_ b b c", -1, false)
		check(bc, "a b b _", -1, false)
		check(bc, "_ b b _", -1, false)
		check(bc, "a b b1 c", -1, true)
		check(bc, "_ b b1 c", -1, true)
		check(bc, "a b b1 _", -1, true)
		check(bc, "_ b b1 _", -1, true)
		check(bc, "", -1, true)
	}
	for _, nc := range []string{"a b c d", "a b1 b1 b c d", "a b c c1 c1 d", "a b1 b1 b c c1 c1 d"} {
		check(nc, "a d", -1, false)
		check(nc, "_ d", -1, false)
		check(nc, "a _", -1, false)
		check(nc, "_ _", -1, false)
		check(nc, "a b", -1, true)
		check(nc, "b c", -1, true)
		check(nc, "c d", -1, true)
		check(nc, "_ b", -1, true)
		check(nc, "c _", -1, true)
	}
	for _, uc := range []string{"_ _", "_ b b _", "_ a1 a1 b b b1 b1 _"} {
		check(uc, "_ _", -1, false)
		check(uc, "a c", -1, true)
		check(uc, "a _", -1, true)
		check(uc, "_ c", -1, true)
		check(uc, "_ b b _", -1, false)
		check(uc, "_ b b1 _", -1, true)
		check(uc, "a b b _", -1, true)
		check(uc, "_ b b c", -1, true)
		check(uc, "", -1, true)
	}
	check("_ b", "_ a", -1, true)
	check("_ b", "_ a", 1, false) // cut short by the limit
	check("_ b", "_ a", 2, true)
	check("a _", "b _", -1, true)
	check("a _", "b _", 1, true)
	check("a _", "b c", 1, true)
	check("a _", "a _", -1, false)
	require.False(t, regionsHaveGap(nil, nil, 1))
	require.True(t, regionsHaveGap([]KeyRange{{[]byte("a"), []byte("b")}}, []*pdpb.Region{{}}, -1))
}

// Port of TestBatchScanRegionsMerger.
func TestRangeMerger(t *testing.T) {
	check := func(loaded, cached, want string) {
		t.Helper()
		toRegions := func(s string) []*Region {
			ks := keys(s)
			var out []*Region
			for i := 0; i < len(ks); i += 2 {
				out = append(out, bareRegion([]byte(strings.Trim(ks[i], "_")), []byte(strings.Trim(ks[i+1], "_"))))
			}
			return out
		}
		m := &rangeMerger{cached: toRegions(cached)}
		for _, r := range toRegions(loaded) {
			m.appendLoaded(r)
		}
		var got []string
		for _, l := range m.build() {
			got = append(got, string(l.StartKey), string(l.EndKey))
		}
		var exp []string
		for _, k := range keys(want) {
			exp = append(exp, strings.Trim(k, "_"))
		}
		require.Equal(t, exp, got, "loaded %q cached %q", loaded, cached)
	}
	check("b c c d", "a b", "a b b c c d")
	check("a b c d", "b c", "a b b c c d")
	check("a b b c", "c d", "a b b c c d")
	check("_ _", "a b b c", "_ _")
	check("_ b", "a b b c", "_ b b c")
	check("b _", "a b b c", "a b b _")
	check("b _", "a b c d", "a b b _")
	check("b e", "a b c d", "a b b e")
	check("b i", "a b c d e f g h i j", "a b b i i j")
	check("b d", "a b c e", "a b b d c e")
	check("b d d f", "a b c e", "a b b d d f")
	check("b d d e e g", "a b c f", "a b b d d e e g")
	check("b d d e f h", "a b c g", "a b b d d e c g f h")
}

// Port of TestBucketClampingToRegion.
func TestBucketClamp(t *testing.T) {
	cases := []struct {
		rs, re, bs, be, ws, we string
		clamped                bool
	}{
		{"a", "z", "f", "m", "f", "m", false},
		{"f", "z", "a", "m", "f", "m", true},
		{"a", "m", "f", "z", "f", "m", true},
		{"f", "m", "a", "z", "f", "m", true},
		{"", "m", "a", "z", "a", "m", true},
		{"f", "", "a", "z", "f", "z", true},
		{"m", "z", "a", "f", "m", "z", true},
		{"f", "z", "", "m", "f", "m", true},
		{"a", "m", "f", "", "f", "m", true},
		{"", "z", "", "m", "", "m", false},
		{"a", "", "f", "", "f", "", false},
		{"f", "m", "", "", "f", "m", true},
		{"", "", "a", "z", "a", "z", false},
	}
	for _, c := range cases {
		loc := &KeyLocation{StartKey: []byte(c.rs), EndKey: []byte(c.re)}
		b := &Bucket{StartKey: []byte(c.bs), EndKey: []byte(c.be)}
		got := loc.clamp(b)
		require.Equal(t, c.ws, string(got.StartKey), "%+v", c)
		require.Equal(t, c.we, string(got.EndKey), "%+v", c)
		require.Equal(t, c.clamped, got != b, "%+v", c)
	}
}

// Port of TestLocateBucket: every key of the region finds a bucket that
// contains it, with or without holes at the region's ends.
func TestLocateBucket(t *testing.T) {
	for _, bk := range [][]string{{"", "a", "b", ""}, {"a", "b"}, {}} {
		var ks [][]byte
		for _, k := range bk {
			ks = append(ks, []byte(k))
		}
		loc := &KeyLocation{Buckets: &metapb.Buckets{Version: 1, Keys: ks}}
		for _, key := range []string{"", "`", "a", "a0", "b", "c"} {
			b := loc.LocateBucket([]byte(key))
			require.NotNil(t, b, "buckets %q key %q", bk, key)
			require.True(t, b.Contains([]byte(key)), "buckets %q key %q: %q", bk, key, b)
		}
	}
	loc := &KeyLocation{StartKey: []byte("b"), EndKey: []byte("c"), Buckets: &metapb.Buckets{Keys: [][]byte{[]byte("b"), []byte("c")}}}
	require.Nil(t, loc.LocateBucket([]byte("a")))
	require.Nil(t, loc.LocateBucket([]byte("d")))
	require.Zero(t, (&KeyLocation{}).BucketVersion())
	require.Contains(t, loc.String(), `["b","c")`)
}

// Port of the sorted_btree behaviour (SearchByKey, removeIntersecting via
// TestRemoveIntersectingRegions) on the bare index.
func TestIndex(t *testing.T) {
	mk := func(id, ver uint64, s, e string) *Region {
		r := bareRegion([]byte(s), []byte(e))
		r.meta.Id = id
		r.meta.RegionEpoch = &metapb.RegionEpoch{Version: ver, ConfVer: 1}
		return r
	}
	x := newRegionIndex()
	// Split at b, c, d, e: five regions.
	for i, se := range [][2]string{{"", "b"}, {"b", "c"}, {"c", "d"}, {"d", "e"}, {"e", ""}} {
		_, ok := x.insert(mk(uint64(i+1), 2, se[0], se[1]))
		require.True(t, ok)
	}
	require.Equal(t, 5, x.len())
	for i, k := range []string{"a", "b", "c", "d", "e", "z"} {
		want := uint64(min(i, 4) + 1)
		require.Equal(t, want, x.searchByKey([]byte(k), false).ID(), "key %q", k)
	}
	require.Equal(t, uint64(1), x.searchByKey([]byte("b"), true).ID())
	require.Equal(t, uint64(5), x.searchByKey(nil, true).ID())
	// Merge all but the last into region 1: inserting it removes 2-4.
	removed, ok := x.insert(mk(1, 5, "", "e"))
	require.True(t, ok)
	require.Len(t, removed, 4)
	require.Equal(t, 2, x.len())
	// Merge the last one too (empty end key).
	removed, ok = x.insert(mk(1, 6, "", ""))
	require.True(t, ok)
	require.Len(t, removed, 2)
	require.Equal(t, 1, x.len())
	// Stale inserts are refused.
	_, ok = x.insert(mk(1, 5, "", ""))
	require.False(t, ok)
	_, ok = x.insert(mk(9, 3, "x", "y"))
	require.False(t, ok)
	// An empty index answers nil, also for +inf by end.
	require.Nil(t, newRegionIndex().searchByKey(nil, true))
	require.Equal(t, 1, len(x.overlapping([]byte("q"), nil)))
	require.True(t, bytes.Equal(x.searchByKey([]byte("q"), false).EndKey(), nil))
}
