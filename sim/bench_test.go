package sim

import (
	"context"
	"testing"
	"time"
)

// BenchmarkHandoff measures one scheduler hand-off between two tasks that
// alternate on events: every op parks one task and runs the other.
func BenchmarkHandoff(b *testing.B) {
	b.ReportAllocs()
	w := New(1, Options{})
	n := b.N
	ping, pong := w.NewEvent(), w.NewEvent()
	w.Spawn("ping", func() {
		for i := 0; i < n; i++ {
			ping.Fire()
			_ = pong.Wait(context.Background())
			pong = w.NewEvent()
		}
	})
	w.Spawn("pong", func() {
		for i := 0; i < n; i++ {
			_ = ping.Wait(context.Background())
			ping = w.NewEvent()
			pong.Fire()
		}
	})
	b.ResetTimer()
	if err := w.Run(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Steps())/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkYield measures scheduling steps with 8 runnable tasks, each step a
// seeded pick plus a goroutine switch.
func BenchmarkYield(b *testing.B) {
	b.ReportAllocs()
	w := New(1, Options{})
	per := b.N/8 + 1
	for range 8 {
		w.Spawn("y", func() {
			for range per {
				w.Yield()
			}
		})
	}
	b.ResetTimer()
	if err := w.Run(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Steps())/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkSleepTimers measures timer-driven steps: 64 tasks sleeping random
// virtual durations.
func BenchmarkSleepTimers(b *testing.B) {
	b.ReportAllocs()
	w := New(1, Options{})
	per := b.N/64 + 1
	for i := range 64 {
		w.Spawn("sleeper", func() {
			r := w.Rand("sleeper" + string(rune('a'+i%26)))
			for range per {
				_ = w.Sleep(context.Background(), time.Duration(1+r.IntN(1000))*time.Microsecond)
			}
		})
	}
	b.ResetTimer()
	if err := w.Run(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Steps())/b.Elapsed().Seconds(), "steps/s")
}
