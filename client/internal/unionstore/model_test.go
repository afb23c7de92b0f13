package unionstore

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// model is the reference for MemDB: plain maps plus a log of value writes.
// A stage or checkpoint is a mark: the log length and a copy of the values.
type model struct {
	vals  map[string][]byte      // keys with a value (tombstone = empty)
	flags map[string]kv.KeyFlags // every buffered key
	log   []string
	marks []mark // open stages
	dirty bool
}

type mark struct {
	logLen int
	vals   map[string][]byte
}

func newModel() *model {
	return &model{vals: map[string][]byte{}, flags: map[string]kv.KeyFlags{}}
}

func (m *model) mark() mark {
	c := make(map[string][]byte, len(m.vals))
	for k, v := range m.vals {
		c[k] = v
	}
	return mark{logLen: len(m.log), vals: c}
}

func (m *model) set(k string, v []byte, ops []kv.FlagsOp) {
	if len(m.marks) == 0 {
		m.dirty = true
	}
	f := m.flags[k]
	if v != nil {
		f = kv.ApplyFlagsOps(f, kv.DelNeedConstraintCheckInPrewrite)
		m.vals[k] = slices.Clone(v)
		m.log = append(m.log, k)
	}
	f = kv.ApplyFlagsOps(f, ops...)
	if f.AndPersistent() != 0 {
		m.dirty = true
	}
	m.flags[k] = f
}

func (m *model) revert(mk mark) {
	for _, k := range m.log[mk.logLen:] {
		if v, ok := mk.vals[k]; ok {
			m.vals[k] = v
			continue
		}
		delete(m.vals, k)
		if f := m.flags[k].AndPersistent(); f != 0 {
			m.flags[k] = f
		} else {
			delete(m.flags, k)
		}
	}
	m.log = m.log[:mk.logLen]
}

func (m *model) size() int {
	n := 0
	for k := range m.flags {
		n += len(k)
	}
	for _, v := range m.vals {
		n += len(v)
	}
	return n
}

// snapVals is what GetSnapshot must see.
func (m *model) snapVals() map[string][]byte {
	if len(m.marks) > 0 {
		return m.marks[0].vals
	}
	return m.vals
}

type kvPair struct {
	k, v  string
	flags kv.KeyFlags
	hasV  bool
}

func (m *model) scan(vals map[string][]byte, lower, upper string, reverse, withFlags bool) []kvPair {
	var out []kvPair
	src := map[string]bool{}
	for k := range vals {
		src[k] = true
	}
	if withFlags {
		for k := range m.flags {
			src[k] = true
		}
	}
	for k := range src {
		if (lower != "" && k < lower) || (upper != "" && k >= upper) {
			continue
		}
		v, ok := vals[k]
		p := kvPair{k: k, v: string(v), hasV: ok}
		if withFlags {
			p.flags = m.flags[k]
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	if reverse {
		slices.Reverse(out)
	}
	return out
}

type fataler interface{ Fatalf(string, ...any) }

func drain(t fataler, it Iterator, withFlags bool) []kvPair {
	var out []kvPair
	for it.Valid() {
		p := kvPair{k: string(it.Key()), v: string(it.Value()), hasV: true}
		if mi, ok := it.(*MemDBIter); ok && withFlags {
			p.flags = mi.Flags()
			p.hasV = mi.HasValue()
		}
		out = append(out, p)
		if err := it.Next(); err != nil {
			t.Fatalf("next: %v", err)
		}
	}
	it.Close()
	return out
}

var genKey = rapid.StringOfN(rapid.RuneFrom([]rune("abcd")), 1, 3, -1)

var allOps = []kv.FlagsOp{
	kv.SetPresumeKeyNotExists, kv.DelPresumeKeyNotExists, kv.SetKeyLocked, kv.DelKeyLocked,
	kv.SetNeedLocked, kv.DelNeedLocked, kv.SetKeyLockedValueExists, kv.SetKeyLockedValueNotExists,
	kv.DelNeedCheckExists, kv.SetPrewriteOnly, kv.SetIgnoredIn2PC, kv.SetReadable, kv.SetNewlyInserted,
	kv.SetAssertExist, kv.SetAssertNotExist, kv.SetAssertUnknown, kv.SetAssertNone,
	kv.SetNeedConstraintCheckInPrewrite, kv.DelNeedConstraintCheckInPrewrite, kv.SetPreviousPresumeKNE,
	kv.SetKeyLockedInShareMode, kv.SetKeyLockedInExclusiveMode,
}

var genOps = rapid.SliceOfN(rapid.SampledFrom(allOps), 0, 3)

func equalPairs(t *rapid.T, what string, got, want []kvPair) {
	if len(got) != len(want) {
		t.Fatalf("%s: got %d pairs %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: pair %d: got %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// TestModelMemDB drives MemDB and the model with the same random operations
// and compares every observable after each step.
func TestModelMemDB(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		db := NewMemDB()
		m := newModel()
		var cp *Checkpoint
		var cpMark mark
		cpDepth := -1

		t.Repeat(map[string]func(*rapid.T){
			"set": func(t *rapid.T) {
				k := genKey.Draw(t, "k")
				v := rapid.SliceOfN(rapid.Byte(), 1, 4).Draw(t, "v")
				ops := genOps.Draw(t, "ops")
				if err := db.SetWithFlags([]byte(k), v, ops...); err != nil {
					t.Fatal(err)
				}
				m.set(k, v, ops)
			},
			"delete": func(t *rapid.T) {
				k := genKey.Draw(t, "k")
				ops := genOps.Draw(t, "ops")
				if err := db.DeleteWithFlags([]byte(k), ops...); err != nil {
					t.Fatal(err)
				}
				m.set(k, []byte{}, ops)
			},
			"updateFlags": func(t *rapid.T) {
				k := genKey.Draw(t, "k")
				ops := genOps.Draw(t, "ops")
				db.UpdateFlags([]byte(k), ops...)
				m.set(k, nil, ops)
			},
			"staging": func(t *rapid.T) {
				if len(m.marks) >= 4 {
					t.Skip("deep enough")
				}
				m.marks = append(m.marks, m.mark())
				if h := db.Staging(); h != len(m.marks) {
					t.Fatalf("handle %d, want %d", h, len(m.marks))
				}
			},
			"release": func(t *rapid.T) {
				if len(m.marks) == 0 {
					t.Skip("no stage")
				}
				h := len(m.marks)
				if h == 1 && m.marks[0].logLen != len(m.log) {
					m.dirty = true
				}
				db.Release(h)
				m.marks = m.marks[:h-1]
				if cpDepth >= h {
					cpDepth = -1
				}
			},
			"cleanup": func(t *rapid.T) {
				if len(m.marks) == 0 {
					t.Skip("no stage")
				}
				h := len(m.marks)
				db.Cleanup(h)
				m.revert(m.marks[h-1])
				m.marks = m.marks[:h-1]
				if cpDepth >= h {
					cpDepth = -1
				}
			},
			"checkpoint": func(t *rapid.T) {
				cp = db.Checkpoint()
				cpMark = m.mark()
				cpDepth = len(m.marks)
			},
			"revert": func(t *rapid.T) {
				if cpDepth != len(m.marks) {
					t.Skip("no checkpoint in this stage")
				}
				db.RevertToCheckpoint(cp)
				m.revert(cpMark)
			},
			"reset": func(t *rapid.T) {
				if rapid.IntRange(0, 9).Draw(t, "rare") != 0 {
					t.Skip("rare")
				}
				db.Reset()
				*m = *newModel()
				cpDepth = -1
			},
			"iter": func(t *rapid.T) {
				lower := rapid.SampledFrom([]string{"", "a", "b", "bb", "c", "cd"}).Draw(t, "lower")
				upper := rapid.SampledFrom([]string{"", "a", "b", "bc", "c", "d"}).Draw(t, "upper")
				withFlags := rapid.Bool().Draw(t, "withFlags")
				reverse := rapid.Bool().Draw(t, "reverse")
				var it *MemDBIter
				switch {
				case withFlags && reverse:
					lower = ""
					it = db.IterReverseWithFlags([]byte(upper))
				case withFlags:
					it = db.IterWithFlags([]byte(lower), []byte(upper))
				case reverse:
					it = db.IterReverse([]byte(upper), []byte(lower))
				default:
					it = db.Iter([]byte(lower), []byte(upper))
				}
				want := []kvPair(nil)
				if lower == "" || upper == "" || lower < upper {
					want = m.scan(m.vals, lower, upper, reverse, withFlags)
				}
				equalPairs(t, "iter", drain(t, it, withFlags), want)
			},
			"snapshotIter": func(t *rapid.T) {
				lower := rapid.SampledFrom([]string{"", "a", "b", "c"}).Draw(t, "lower")
				upper := rapid.SampledFrom([]string{"", "b", "c", "d"}).Draw(t, "upper")
				reverse := rapid.Bool().Draw(t, "reverse")
				snap := db.GetSnapshot()
				got := drain(t, snap.BatchedSnapshotIter([]byte(lower), []byte(upper), reverse), false)
				want := []kvPair(nil)
				if lower == "" || upper == "" || lower < upper {
					want = m.scan(m.snapVals(), lower, upper, reverse, false)
				}
				equalPairs(t, "snapshot iter", got, want)
			},
			"inspect": func(t *rapid.T) {
				if len(m.marks) == 0 {
					t.Skip("no stage")
				}
				h := len(m.marks)
				want := map[string]kvPair{}
				for _, k := range m.log[m.marks[h-1].logLen:] {
					want[k] = kvPair{k: k, v: string(m.vals[k]), flags: m.flags[k], hasV: true}
				}
				got := map[string]kvPair{}
				db.InspectStage(h, func(k []byte, f kv.KeyFlags, v []byte) {
					if _, dup := got[string(k)]; dup {
						t.Fatalf("InspectStage visited %q twice", k)
					}
					got[string(k)] = kvPair{k: string(k), v: string(v), flags: f, hasV: true}
				})
				if len(got) != len(want) {
					t.Fatalf("InspectStage: got %v, want %v", got, want)
				}
				for k, w := range want {
					if got[k] != w {
						t.Fatalf("InspectStage %q: got %+v want %+v", k, got[k], w)
					}
				}
			},
			"": func(t *rapid.T) { m.check(t, db) },
		})
	})
}

// checkState compares point reads, counters and the snapshot with the model.
func (m *model) check(t *rapid.T, db *MemDB) {
	ctx := context.Background()
	if db.Len() != len(m.flags) || db.Size() != m.size() {
		t.Fatalf("len/size %d/%d, want %d/%d", db.Len(), db.Size(), len(m.flags), m.size())
	}
	if db.Dirty() != m.dirty {
		t.Fatalf("dirty %v, want %v", db.Dirty(), m.dirty)
	}
	snap := db.GetSnapshot()
	sv := m.snapVals()
	for _, k := range []string{"a", "b", "c", "d", "aa", "ab", "ba", "cd", "dd", "abc", "dcb"} {
		v, err := db.Get(ctx, []byte(k))
		mv, ok := m.vals[k]
		if ok != (err == nil) || !bytes.Equal(v, mv) {
			t.Fatalf("Get(%q) = %q, %v; want %q, %v", k, v, err, mv, ok)
		}
		if err != nil && !tikverr.IsErrNotFound(err) {
			t.Fatalf("Get(%q): %v", k, err)
		}
		f, err := db.GetFlags([]byte(k))
		mf, ok := m.flags[k]
		if ok != (err == nil) || f != mf {
			t.Fatalf("GetFlags(%q) = %v, %v; want %v, %v", k, f, err, mf, ok)
		}
		v, err = snap.Get(ctx, []byte(k))
		mv, ok = sv[k]
		if ok != (err == nil) || !bytes.Equal(v, mv) {
			t.Fatalf("snapshot Get(%q) = %q, %v; want %q, %v", k, v, err, mv, ok)
		}
	}
}

// TestModelUnionStore compares union reads (Get, BatchGet, Iter,
// IterReverse) of a random buffer over a random snapshot with a merged map.
func TestModelUnionStore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapData := rapid.MapOf(genKey, rapid.SliceOfN(rapid.Byte(), 1, 3)).Draw(t, "snapshot")
		snap := newFakeSnapshot(snapData)
		db := NewMemDB()
		us := NewUnionStore(db, snap)
		merged := map[string][]byte{}
		for k, v := range snapData {
			merged[k] = v
		}
		n := rapid.IntRange(0, 30).Draw(t, "writes")
		for range n {
			k := genKey.Draw(t, "k")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				v := rapid.SliceOfN(rapid.Byte(), 1, 3).Draw(t, "v")
				if err := db.Set([]byte(k), v); err != nil {
					t.Fatal(err)
				}
				merged[k] = v
			case 1:
				if err := db.Delete([]byte(k)); err != nil {
					t.Fatal(err)
				}
				delete(merged, k)
			case 2:
				db.UpdateFlags([]byte(k), kv.SetKeyLocked)
			}
		}
		ctx := context.Background()
		var keys [][]byte
		for _, k := range []string{"a", "b", "c", "d", "ab", "ba", "cc", "dd", "abc", "bcd"} {
			keys = append(keys, []byte(k))
			v, err := us.Get(ctx, []byte(k))
			mv, ok := merged[k]
			if ok != (err == nil) || !bytes.Equal(v, mv) {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", k, v, err, mv, ok)
			}
		}
		got, err := us.BatchGet(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			mv, ok := merged[string(k)]
			gv, gok := got[string(k)]
			if ok != gok || !bytes.Equal(gv, mv) {
				t.Fatalf("BatchGet[%q] = %q, %v; want %q, %v", k, gv, gok, mv, ok)
			}
		}
		if len(got) > len(keys) {
			t.Fatalf("BatchGet returned extra keys: %v", got)
		}
		lower := rapid.SampledFrom([]string{"", "a", "b", "bb", "c"}).Draw(t, "lower")
		upper := rapid.SampledFrom([]string{"", "b", "bc", "c", "d"}).Draw(t, "upper")
		if lower != "" && upper != "" && lower >= upper {
			return
		}
		m := &model{vals: merged}
		for _, reverse := range []bool{false, true} {
			var it Iterator
			if reverse {
				it, err = us.IterReverse([]byte(upper), []byte(lower))
			} else {
				it, err = us.Iter([]byte(lower), []byte(upper))
			}
			if err != nil {
				t.Fatal(err)
			}
			equalPairs(t, "union iter", drain(t, it, false), m.scan(merged, lower, upper, reverse, false))
		}
	})
}
