package rt_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tikvsim/tikvsim/client/rt"
)

// The production runtime must cost what the plain standard library costs:
// each benchmark pair runs the rt primitive and its stdlib equivalent side by
// side.

func BenchmarkFutureRoundTrip(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		f := rt.NewFuture[int](rt.Real)
		rt.Real.Go("b", func() { f.Set(1, nil) })
		_, _ = f.Wait(ctx)
	}
}

func BenchmarkStdlibChanRoundTrip(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ch := make(chan int, 1)
		go func() { ch <- 1 }()
		<-ch
	}
}

func BenchmarkEventFireWait(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		e := rt.Real.NewEvent()
		e.Fire()
		_ = e.Wait(ctx)
	}
}

func BenchmarkStdlibCloseRecv(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ch := make(chan struct{})
		close(ch)
		<-ch
	}
}

func BenchmarkQueuePushPop(b *testing.B) {
	b.ReportAllocs()
	q := rt.NewQueue[int](rt.Real)
	ctx := context.Background()
	for b.Loop() {
		_ = q.Push(1)
		_, _ = q.Pop(ctx)
	}
}

func BenchmarkStdlibBufferedChan(b *testing.B) {
	b.ReportAllocs()
	ch := make(chan int, 1)
	for b.Loop() {
		ch <- 1
		<-ch
	}
}

func BenchmarkGroup8(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		g := rt.NewGroup(rt.Real)
		for range 8 {
			g.Go("b", func() error { return nil })
		}
		_ = g.Wait(ctx)
	}
}

func BenchmarkStdlibWaitGroup8(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
}

func BenchmarkMutex(b *testing.B) {
	b.ReportAllocs()
	m := rt.Real.NewMutex()
	for b.Loop() {
		m.Lock()
		m.Unlock()
	}
}

func BenchmarkStdlibMutex(b *testing.B) {
	b.ReportAllocs()
	var m sync.Mutex
	for b.Loop() {
		m.Lock()
		m.Unlock()
	}
}
