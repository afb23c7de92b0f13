package workloads

import (
	"context"
	"math/rand/v2"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/txnkv"
)

// Env is what a workload gets from whoever runs it (the simulator's harness,
// or a real-cluster driver): a runtime, a seeded PRNG, the recorder, and the
// way to reach the system under test.
type Env struct {
	// Runtime gives time, tasks and blocking primitives.
	Runtime rt.Runtime
	// Rand is the workload's PRNG (derived from the run's seed in the
	// simulator). Use it only from the workload's setup and derive
	// per-client sources from it.
	Rand *rand.Rand
	// Recorder records the history.
	Recorder *Recorder
	// Clients is the number of client processes that will run.
	Clients int
	// Serve registers a server-side node named name answering requests
	// with h. Workloads whose system under test is a plain RPC service
	// (such as counter) use it; cluster workloads use Cluster instead.
	Serve func(name string, h func(ctx context.Context, from string, req any) (any, error))
	// Call sends req from node from to node to and waits for the response.
	// Its errors classify as not sent or undetermined via Undetermined.
	Call func(ctx context.Context, from, to string, req any) (any, error)
	// Undetermined reports whether a Call error leaves the outcome unknown.
	Undetermined func(error) bool
	// RawKV returns a new raw KV client of the cluster under test, as the
	// client process called name would create it; nil when the system
	// under test is not a cluster.
	RawKV func(name string) (*rawkv.Client, error)
	// TxnKV returns a new transactional client of the cluster under test,
	// likewise.
	TxnKV func(name string) (*txnkv.Client, error)
}

// Workload is a client program with its own checker.
type Workload interface {
	// Setup builds the system under test and derives the workload's
	// options from env.Rand (swarm testing) unless they were given. It runs
	// in a task before any client starts.
	Setup(env *Env) error
	// Client runs client id's operations until ctx is done, recording each.
	Client(ctx context.Context, env *Env, id int)
	// Final runs after every fault has healed, and must succeed before ctx
	// is done: it is the liveness phase (for example a final read).
	Final(ctx context.Context, env *Env) error
	// Check judges the recorded history.
	Check(h checkers.History) checkers.Result
	// Describe returns the options in force, for the run header.
	Describe() string
}
