// Package sim is the deterministic simulation kernel: a World created from a
// seed, with virtual time, a cooperative scheduler in which exactly one task
// runs at a time, timers, runtime-visible blocking primitives, a seed tree for
// every subsystem's PRNG, and a trace folded into a 64-bit hash.
//
// # Execution model
//
// A task is a goroutine that runs only while it holds the World's baton. A task
// gives the baton up only at a blocking point the kernel knows about (Event.Wait,
// Select, Sleep, Yield, returning). The task giving it up runs the scheduler
// itself and hands the baton straight to the next task (one channel operation
// per switch). The next task is chosen among the runnable ones by the
// scheduler's seeded PRNG. When nothing is runnable, virtual time jumps to the
// earliest timer, ordered by (time, sequence number). When nothing is runnable
// and no timer is pending while tasks are still parked, the run fails with a
// deadlock report naming each parked task and what it waits for.
//
// Context cancellation is seen by polling: a task parked with a cancellable
// context is woken, in park order, at the first scheduling point after its
// context is done. Cancellation itself happens only synchronously inside a task
// or a timer callback, so the poll is deterministic. Contexts with deadlines are
// built with World.WithDeadline on virtual time.
//
// # Real-time mode
//
// NewRealtime makes a World whose virtual time follows the wall clock (Now
// is the wall-clock time), run with RunRealtime until its context is done.
// Goroutines outside the world hand it work with Inject (a callback run in
// the scheduler, like a timer's). An idle world sleeps until its next timer
// or injection instead of failing as deadlocked. sim/serve uses it to serve
// the fake cluster over gRPC; a real-time run is not reproducible, and the
// deterministic mode does not change (realtime.go holds every wall-clock
// read and wait).
//
// # Determinism
//
// A run is a pure function of its seed as long as the code it runs keeps the
// determinism contract (docs/architecture.md): no wall clock, no bare
// goroutines, no waits the kernel cannot see, no global PRNG, no map order
// reaching behaviour. Every scheduling pick, spawn, timer firing and
// caller-recorded event is folded into the trace hash, so a violation shows as
// two runs of one seed with different hashes (see CheckDeterminism).
package sim
