package elle

import (
	"fmt"
	"testing"
)

// BenchmarkCheck measures the checker on generated valid histories: 10k and
// 100k transactions of up to 4 mops over 16 processes, list-append and
// rw-register, under strict serializability (the model with the most edges).
func BenchmarkCheck(b *testing.B) {
	for _, reg := range []bool{false, true} {
		for _, n := range []int{10_000, 100_000} {
			w := "list-append"
			if reg {
				w = "rw-register"
			}
			h := genHistory(1, genConfig{txns: n, procs: 16, keys: 32, perKey: 64, maxMops: 4, pInfo: 0.01, pFail: 0.01, registers: reg})
			b.Run(fmt.Sprintf("%s/%d", w, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r := Check(h, Options{Model: StrictSerializable}); r.Verdict != 0 {
						b.Fatal(r)
					}
				}
			})
		}
	}
}
