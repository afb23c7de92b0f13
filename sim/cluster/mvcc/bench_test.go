package mvcc

import (
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// BenchmarkPrewriteCommit measures one optimistic 2PC of four keys.
func BenchmarkPrewriteCommit(b *testing.B) {
	e := New(Config{})
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		start := uint64(2*i + 1)
		var ms []*kvrpcpb.Mutation
		for _, k := range keys {
			ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: k, Value: k})
		}
		if r := e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: keys[0], StartVersion: start, LockTtl: 10}); len(r.Errors) != 0 {
			b.Fatal(r.Errors)
		}
		if r := e.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: start + 1, Keys: keys}); r.Error != nil {
			b.Fatal(r.Error)
		}
	}
}

// BenchmarkScan measures a 100-key scan over 1000 keys with 10 versions.
func BenchmarkScan(b *testing.B) {
	e := New(Config{})
	ts := uint64(1)
	for v := 0; v < 10; v++ {
		var ms []*kvrpcpb.Mutation
		var ks [][]byte
		for i := 0; i < 1000; i++ {
			k := []byte(fmt.Sprintf("k%04d", i))
			ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: k, Value: k})
			ks = append(ks, k)
		}
		e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: ks[0], StartVersion: ts})
		e.Commit(&kvrpcpb.CommitRequest{StartVersion: ts, CommitVersion: ts + 1, Keys: ks})
		ts += 2
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.Scan(&kvrpcpb.ScanRequest{StartKey: []byte("k0100"), Limit: 100, Version: ts})
		if len(r.Pairs) != 100 {
			b.Fatal(len(r.Pairs))
		}
	}
}
