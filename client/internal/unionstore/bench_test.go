package unionstore

// Benchmarks mirroring client-go internal/unionstore/memdb_bench_test.go
// (same names, sizes and loops) plus staging, checkpoint, small-transaction
// and B-tree degree benchmarks, each run against both indexes. Run with
// go test -run '^$' -bench . -benchmem; docs/benchmarks.md records numbers
// next to client-go's ART measured on the same machine.

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/btree"
)

// forIndexes runs a benchmark as two sub-benchmarks, BTree (the index
// MemDB used before) and ART (the one it uses now), as client-go's memdb
// benchmarks run RBT and ART side by side.
func forIndexes(b *testing.B, f func(b *testing.B, newDB func() *MemDB)) {
	b.Run("BTree", func(b *testing.B) {
		f(b, func() *MemDB { return newMemDB(newBTreeIndex()) })
	})
	b.Run("ART", func(b *testing.B) { f(b, NewMemDB) })
}

const (
	benchKeySize   = 16
	benchValueSize = 128
	benchOpCnt     = 100000
)

func BenchmarkLargeIndex(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		buf := make([][benchValueSize]byte, b.N)
		for i := range buf {
			binary.LittleEndian.PutUint32(buf[i][:], uint32(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range buf {
			_ = db.Set(buf[i][:], buf[i][:])
		}
	})
}

func BenchmarkPut(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		buf := make([][benchValueSize]byte, b.N)
		for i := range buf {
			binary.BigEndian.PutUint32(buf[i][:], uint32(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range buf {
			_ = db.Set(buf[i][:benchKeySize], buf[i][:])
		}
	})
}

func BenchmarkPutRandom(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		r := rand.New(rand.NewPCG(1, 2))
		buf := make([][benchValueSize]byte, b.N)
		for i := range buf {
			binary.LittleEndian.PutUint32(buf[i][:], r.Uint32())
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range buf {
			_ = db.Set(buf[i][:benchKeySize], buf[i][:])
		}
	})
}

func BenchmarkGet(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		buf := make([][benchValueSize]byte, b.N)
		for i := range buf {
			binary.BigEndian.PutUint32(buf[i][:], uint32(i))
			_ = db.Set(buf[i][:benchKeySize], buf[i][:])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range buf {
			_, _ = db.Get(bg, buf[i][:benchKeySize])
		}
	})
}

func BenchmarkGetRandom(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		r := rand.New(rand.NewPCG(1, 2))
		buf := make([][benchValueSize]byte, b.N)
		for i := range buf {
			binary.LittleEndian.PutUint32(buf[i][:], r.Uint32())
			_ = db.Set(buf[i][:benchKeySize], buf[i][:])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range buf {
			_, _ = db.Get(bg, buf[i][:benchKeySize])
		}
	})
}

func benchData(shuffle bool) [][]byte {
	data := make([][]byte, benchOpCnt)
	for i := range data {
		data[i] = encodeInt(i)
	}
	if shuffle {
		r := rand.New(rand.NewPCG(3, 4))
		r.Shuffle(len(data), func(i, j int) { data[i], data[j] = data[j], data[i] })
	}
	return data
}

func benchSetGet(b *testing.B, db *MemDB, data [][]byte) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, k := range data {
			_ = db.Set(k, k)
		}
		for _, k := range data {
			_, _ = db.Get(bg, k)
		}
	}
}

func BenchmarkMemDbBufferSequential(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) { benchSetGet(b, newDB(), benchData(false)) })
}

func BenchmarkMemDbBufferRandom(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) { benchSetGet(b, newDB(), benchData(true)) })
}

func filledDB(newDB func() *MemDB) *MemDB {
	db := newDB()
	for k := range benchOpCnt {
		_ = db.Set(encodeInt(k), encodeInt(k))
	}
	return db
}

func BenchmarkMemDbIter(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := filledDB(newDB)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			it := db.Iter(nil, nil)
			for it.Valid() {
				_ = it.Key()
				_ = it.Value()
				_ = it.Next()
			}
			it.Close()
		}
	})
}

func BenchmarkMemDbIterReverse(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := filledDB(newDB)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			it := db.IterReverse(nil, nil)
			for it.Valid() {
				_ = it.Key()
				_ = it.Value()
				_ = it.Next()
			}
		}
	})
}

func BenchmarkSnapshotIter(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		b.Run("SnapshotIter", func(b *testing.B) {
			db := filledDB(newDB)
			db.Staging()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				it := db.SnapshotIter(nil, nil)
				for it.Valid() {
					_ = it.Value()
					_ = it.Key()
					_ = it.Next()
				}
			}
		})
		b.Run("BatchedSnapshotIter", func(b *testing.B) {
			db := filledDB(newDB)
			db.Staging()
			snap := db.GetSnapshot()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				it := snap.BatchedSnapshotIter(nil, nil, false)
				for it.Valid() {
					_ = it.Next()
				}
			}
		})
		b.Run("ForEachInSnapshot", func(b *testing.B) {
			db := filledDB(newDB)
			db.Staging()
			snap := db.GetSnapshot()
			f := func(k, v []byte) (bool, error) { return false, nil }
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_ = snap.ForEachInSnapshotRange(nil, nil, f, false)
			}
		})
	})
}

func BenchmarkMemDbCreation(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		_ = NewMemDB()
	}
}

func BenchmarkMemBufferCache(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		buf := make([][benchKeySize]byte, b.N)
		for i := range buf {
			binary.LittleEndian.PutUint32(buf[i][:], uint32(i))
			_ = db.Set(buf[i][:], buf[i][:])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range buf {
			_, _ = db.Get(bg, buf[i][:])
			for range 10 {
				_, _ = db.Get(bg, buf[i][:])
			}
		}
	})
}

func BenchmarkMemBufferSetGetLongKey(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		keys := make([][]byte, b.N)
		for i := range keys {
			keys[i] = make([]byte, 1024)
			binary.BigEndian.PutUint64(keys[i], uint64(i))
			slices.Reverse(keys[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range keys {
			_ = db.Set(keys[i], keys[i])
		}
		for i := range keys {
			_, _ = db.Get(bg, keys[i])
		}
	})
}

// BenchmarkStaging is one statement as TiDB runs it: open a stage, write
// 16 keys (half new, half overwrites), then release or clean up.
func BenchmarkStaging(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		for _, release := range []bool{true, false} {
			name := "Cleanup"
			if release {
				name = "Release"
			}
			b.Run(name, func(b *testing.B) {
				db := newDB()
				keys := make([][]byte, 1024)
				for i := range keys {
					keys[i] = encodeInt(i)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					h := db.Staging()
					for j := range 16 {
						k := keys[(i*8+j)%len(keys)]
						_ = db.Set(k, k)
					}
					if release {
						db.Release(h)
					} else {
						db.Cleanup(h)
					}
				}
			})
		}
	})
}

// BenchmarkCheckpoint measures Checkpoint + 4 writes + RevertToCheckpoint.
func BenchmarkCheckpoint(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := filledDB(newDB)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			cp := db.Checkpoint()
			for j := range 4 {
				k := encodeInt((i + j) % benchOpCnt)
				_ = db.Set(k, []byte("v"))
			}
			db.RevertToCheckpoint(cp)
		}
	})
}

// BenchmarkDegree picks btreeDegree: Put of 16-byte keys at several degrees.
func BenchmarkDegree(b *testing.B) {
	for _, d := range []int{8, 16, 32, 64} {
		b.Run("d"+string(encodeInt(d)[8:]), func(b *testing.B) {
			t := btree.NewG(d, itemLess)
			keys := make([][]byte, b.N)
			r := rand.New(rand.NewPCG(5, 6))
			for i := range keys {
				keys[i] = make([]byte, 16)
				binary.LittleEndian.PutUint64(keys[i], r.Uint64())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range keys {
				t.ReplaceOrInsert(probe(keys[i]))
			}
			for i := range keys {
				t.Get(probe(keys[i]))
			}
		})
	}
}

// BenchmarkSmallTxn is one small transaction's use of its buffer: a new
// MemDB, 8 writes of random 16-byte keys with 64-byte values, 8 reads (half
// of them misses), one statement stage that writes 2 keys and is cleaned up,
// and the commit's walk over every key with its flags.
func BenchmarkSmallTxn(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		r := rand.New(rand.NewPCG(7, 8))
		keys := make([][]byte, 4096)
		for i := range keys {
			keys[i] = make([]byte, benchKeySize)
			binary.LittleEndian.PutUint64(keys[i], r.Uint64())
			binary.LittleEndian.PutUint64(keys[i][8:], r.Uint64())
		}
		val := make([]byte, 64)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			db := newDB()
			base := (i * 16) % (len(keys) - 16)
			for j := range 8 {
				_ = db.Set(keys[base+j], val)
			}
			for j := range 8 {
				_, _ = db.Get(bg, keys[base+j*2])
			}
			h := db.Staging()
			_ = db.Set(keys[base+8], val)
			_ = db.Set(keys[base+9], val)
			db.Cleanup(h)
			it := db.IterWithFlags(nil, nil)
			for it.Valid() {
				_ = it.Flags()
				_ = it.Next()
			}
		}
	})
}

// BenchmarkFillReset fills a reused buffer with 10000 keys and resets it:
// with Reset keeping only a bounded cache, each round allocates afresh.
func BenchmarkFillReset(b *testing.B) {
	forIndexes(b, func(b *testing.B, newDB func() *MemDB) {
		db := newDB()
		keys := make([][]byte, 10000)
		for k := range keys {
			keys[k] = encodeInt(k * 7919 % len(keys))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for _, key := range keys {
				_ = db.Set(key, key)
			}
			db.Reset()
		}
	})
}
