package locate

import (
	"bytes"

	"github.com/google/btree"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// btreeDegree is client-go's degree for the sorted region index.
const btreeDegree = 32

// item is one entry of the sorted index: a region under its start key.
type item struct {
	key []byte
	r   *Region
}

func itemLess(a, b item) bool { return bytes.Compare(a.key, b.key) < 0 }

// regionIndex holds the cached regions by start key and by id (client-go
// regionIndexMu with SortedRegions). The regions in it never overlap. It is
// not synchronized: Cache.mu guards it.
type regionIndex struct {
	tree *btree.BTreeG[item]
	byID map[uint64]*Region // the cached region of each id: the same *Region as in tree
}

func newRegionIndex() *regionIndex {
	return &regionIndex{tree: btree.NewG(btreeDegree, itemLess), byID: map[uint64]*Region{}}
}

// searchByKey returns the region containing key, or with isEndKey the one
// containing the greatest key below key (client-go SearchByKey). It ignores
// TTL and validity.
func (x *regionIndex) searchByKey(key []byte, isEndKey bool) *Region {
	if isEndKey && len(key) == 0 {
		// +inf: only the last region contains it by end.
		if it, ok := x.tree.Max(); ok && len(it.r.EndKey()) == 0 {
			return it.r
		}
		return nil
	}
	var found *Region
	x.tree.DescendLessOrEqual(item{key: key}, func(it item) bool {
		if isEndKey && bytes.Equal(it.key, key) {
			return true // a region starting at key does not contain it by end
		}
		if (!isEndKey && it.r.Contains(key)) || (isEndKey && it.r.ContainsByEnd(key)) {
			found = it.r
		}
		return false
	})
	return found
}

// ascend calls f for the regions whose start key is >= start, in order,
// until f returns false.
func (x *regionIndex) ascend(start []byte, f func(*Region) bool) {
	x.tree.AscendGreaterOrEqual(item{key: start}, func(it item) bool { return f(it.r) })
}

// overlapping returns the cached regions overlapping [start, end), in key
// order.
func (x *regionIndex) overlapping(start, end []byte) []*Region {
	var out []*Region
	x.tree.DescendLessOrEqual(item{key: start}, func(it item) bool {
		if bytes.Compare(it.key, start) < 0 && overlaps(it.r.StartKey(), it.r.EndKey(), start, end) {
			out = append(out, it.r)
		}
		return false
	})
	x.tree.AscendGreaterOrEqual(item{key: start}, func(it item) bool {
		if len(end) > 0 && bytes.Compare(it.key, end) >= 0 {
			return false
		}
		out = append(out, it.r)
		return true
	})
	return out
}

// olderThan reports whether region n is stale against cached region o:
// same id with a greater version or conf version, or another id with a
// greater version (client-go insertRegionToCache and removeIntersecting).
func olderThan(n, o RegionVerID) bool {
	if n.id == o.id {
		return o.ver > n.ver || o.confVer > n.confVer
	}
	return o.ver > n.ver
}

// insert adds r and removes every cached region it overlaps, plus the old
// version of its id. It refuses r (returning ok false) when a cached region
// with the same id or an overlapping one is newer. On success it returns
// the removed regions, the old version of r's id first if it was cached.
func (x *regionIndex) insert(r *Region) (removed []*Region, ok bool) {
	v := r.VerID()
	old := x.byID[v.id]
	if old != nil && olderThan(v, old.VerID()) {
		return nil, false
	}
	over := x.overlapping(r.StartKey(), r.EndKey())
	for _, o := range over {
		if olderThan(v, o.VerID()) {
			return nil, false
		}
	}
	if old != nil {
		removed = append(removed, old)
	}
	for _, o := range over {
		if o != old {
			removed = append(removed, o)
		}
	}
	for _, o := range removed {
		x.delete(o)
	}
	x.tree.ReplaceOrInsert(item{key: r.StartKey(), r: r})
	x.byID[v.id] = r
	if invariants.Enabled {
		x.checkAround(r)
	}
	return removed, true
}

// delete removes r if it is the cached region of its id and start key.
func (x *regionIndex) delete(r *Region) {
	if it, ok := x.tree.Get(item{key: r.StartKey()}); ok && it.r == r {
		x.tree.Delete(it)
	}
	if x.byID[r.ID()] == r {
		delete(x.byID, r.ID())
	}
}

// checkAround asserts that r's neighbours do not overlap it and that the
// id map points at it.
func (x *regionIndex) checkAround(r *Region) {
	invariants.Assert(x.byID[r.ID()] == r, "region %d missing from id map", r.ID())
	x.tree.DescendLessOrEqual(item{key: r.StartKey()}, func(it item) bool {
		if it.r == r {
			return true
		}
		invariants.Assert(!overlaps(it.r.StartKey(), it.r.EndKey(), r.StartKey(), r.EndKey()),
			"%v overlaps predecessor %v", r, it.r)
		return false
	})
	x.tree.AscendGreaterOrEqual(item{key: r.StartKey()}, func(it item) bool {
		if it.r == r {
			return true
		}
		invariants.Assert(!overlaps(it.r.StartKey(), it.r.EndKey(), r.StartKey(), r.EndKey()),
			"%v overlaps successor %v", r, it.r)
		return false
	})
}

// len returns the number of cached regions.
func (x *regionIndex) len() int { return x.tree.Len() }
