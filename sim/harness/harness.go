// Package harness runs one simulated execution end to end: it builds a world
// from a seed, the simulated network and the workload's system under test,
// runs the clients under a nemesis (the safety phase), heals every fault and
// requires the workload to converge (the liveness phase), then checks the
// history. cmd/simrun and the simulation tests are thin layers over Run.
//
// Every run records the faults its nemesis applied as an explicit schedule
// (Result.FaultSchedule; syntax on ParseSchedule) that, given back as
// Spec.Faults with the same seed, replays the run with the same trace hash.
// Shrink starts from it to reduce a failing run (fewer faults, fewer clients,
// a shorter safety phase) while it keeps failing the same way, and
// Spec.Flags prints the simrun command line of any spec.
//
// A run ends in one of four classes (Result.Class): valid, a safety
// violation (the checker found anomalies), a liveness failure (no convergence
// within Spec.LivenessBound after the heal) or a run failure (panic,
// deadlock, budget, stall, or no verdict).
package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/elle"
	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
	"github.com/tikvsim/tikvsim/workloads"
	"github.com/tikvsim/tikvsim/workloads/bank"
	"github.com/tikvsim/tikvsim/workloads/counter"
	"github.com/tikvsim/tikvsim/workloads/elletxn"
	"github.com/tikvsim/tikvsim/workloads/register"
	"github.com/tikvsim/tikvsim/workloads/set"
)

// Spec says what to run. Zero fields get the defaults noted.
type Spec struct {
	Seed uint64
	// Workload names the workload (default "counter"); see Workloads.
	Workload string
	// Faults is a preset (none, network, all, swarm) or an explicit fault
	// schedule (see ParseSchedule): network faults, and topology actions
	// for cluster workloads, applied at the start or at given virtual
	// times (default "none").
	Faults string
	// Duration is the simulated length of the safety phase (default 5s).
	Duration time.Duration
	// Clients is the number of client processes (default 3).
	Clients int
	// MaxOps, when positive, ends the safety phase early, as soon as that
	// many operations have been invoked in it (the operation that reaches
	// the limit is cut short by the end of the phase). The run is the same
	// as without the limit up to that point, so Shrink uses it to reduce
	// the number of operations.
	MaxOps int
	// Bug switches on a deliberately injected bug, for proving that the
	// checkers and shrinking work; "" for none. See Bugs.
	Bug string
	// Txn is the commit protocol of a transactional workload's
	// transactions: "2pc" (the default, also ""), "async", "1pc" or "mixed"
	// (see workloads.TxnMode).
	Txn string
	// Trace receives every trace event.
	Trace func(sim.TraceEvent)
	// MaxSteps bounds the run (default 50 million).
	MaxSteps uint64
	// WallStall is the sim.Options.Stall watchdog (default one minute).
	WallStall time.Duration
	// LivenessBound is how long, in virtual time, the workload has to
	// converge once every fault has healed (default DefaultLivenessBound).
	// Not converging is a liveness failure (Result.Class "liveness").
	LivenessBound time.Duration
	// StopAtStep, when positive, ends the run once the scheduler has taken
	// that many steps (stop-at-step debugging): the run stops as the task
	// picked at step StopAtStep next blocks, the partial history is checked
	// and the liveness phase does not run. Result.Stopped says whether the
	// run was cut short.
	StopAtStep uint64
	// APIVersion is the API version of a cluster workload's cluster: "v1"
	// (the default, also "") or "v2": the cluster runs in API V2 mode and
	// the clients work in a keyspace created in PD for the run (see
	// apiv2.go).
	APIVersion string
	// GC runs the transactional client's GC periodically during the safety
	// phase of a transactional workload (see gc.go): "" or "off" (the
	// default), "on" (every DefaultGCEvery, lag DefaultGCLag), "swarm" (the
	// seed decides whether, how often and with what lag), or "LAG" /
	// "LAG/EVERY" (durations, e.g. "8s/300ms").
	GC string
	// OnSetup, when set, receives Result.Setup as soon as the workload has
	// derived its options and the nemesis its plan, before any client runs,
	// so a driver can print every derived parameter before the run.
	OnSetup func(setup string)
}

// defaultMaxSteps is the default Spec.MaxSteps.
const defaultMaxSteps = 50_000_000

// DefaultLivenessBound is the default Spec.LivenessBound.
const DefaultLivenessBound = 30 * time.Second

// The failure classes of Result.Class.
const (
	// ClassSafety: a checker found a violation in the history.
	ClassSafety = "safety"
	// ClassLiveness: the workload did not converge within the liveness
	// bound after every fault healed (the history itself was valid).
	ClassLiveness = "liveness"
	// ClassRun: the run itself failed (panic, deadlock, step or time
	// budget, stall, bad spec) or the checker could not decide (Unknown).
	ClassRun = "run"
)

// Result is the outcome of one run. Its JSON form is simrun's --json line.
type Result struct {
	Seed      uint64   `json:"seed"`
	Workload  string   `json:"workload"`
	Faults    string   `json:"faults"`
	OpsOK     int      `json:"ops_ok"`
	OpsFail   int      `json:"ops_fail"`
	OpsInfo   int      `json:"ops_info"`
	SimMS     int64    `json:"sim_ms"`
	WallMS    int64    `json:"wall_ms"`
	Steps     uint64   `json:"steps"`
	TraceHash string   `json:"trace_hash"`
	Valid     bool     `json:"valid"`
	Anomalies []string `json:"anomalies"`
	// Error is set when the run itself failed (panic, deadlock, budget,
	// bad spec) rather than the history.
	Error string `json:"error,omitempty"`
	// Class is "" for a valid run, else the failure class: ClassSafety,
	// ClassLiveness or ClassRun. A run with a safety violation is of class
	// safety even if it also failed to converge.
	Class string `json:"class,omitempty"`
	// Liveness is the liveness phase's error: the workload did not
	// converge within Spec.LivenessBound after the heal.
	Liveness string `json:"liveness,omitempty"`
	// Stopped is Spec.StopAtStep when the run was cut short there.
	Stopped uint64 `json:"stopped_at_step,omitempty"`
	// GCRuns counts the GC calls of Spec.GC that ended in the safety
	// phase, GCFailed those that failed (faults), and GCSafePoint is the
	// last GC safe point reached.
	GCRuns      int    `json:"gc_runs,omitempty"`
	GCFailed    int    `json:"gc_failed,omitempty"`
	GCSafePoint uint64 `json:"gc_safe_point,omitempty"`

	// Setup describes the derived options and the fault plan.
	Setup string `json:"setup"`
	// Schedule lists the faults injected, with their virtual times,
	// including the heal that starts the liveness phase.
	Schedule []string `json:"-"`
	// FaultSchedule is the explicit schedule of the faults the nemesis
	// applied in the safety phase (see ParseSchedule). Run with it as
	// Spec.Faults and the same seed and options, it reproduces this run.
	FaultSchedule Schedule         `json:"-"`
	History       checkers.History `json:"-"`
	Check         checkers.Result  `json:"-"`
	Failure       *sim.Failure     `json:"-"`
	Hash          uint64           `json:"-"`
}

// Workloads lists the workload names Run accepts.
func Workloads() []string {
	return []string{"append", "bank", "counter", "register", "rw-register", "set"}
}

// Bugs lists the injectable bugs by workload.
var Bugs = map[string]string{
	"counter-nodedup":       "the counter server applies retried and duplicated increments again",
	"register-info-as-fail": "the register workload records writes whose outcome is unknown as failed",
}

func newWorkload(name, bug string) (workloads.Workload, error) {
	switch name {
	case "counter":
		return &counter.Workload{Buggy: bug == "counter-nodedup"}, nil
	case "append":
		return &elletxn.Workload{Kind: elle.ListAppend}, nil
	case "bank":
		return &bank.Workload{}, nil
	case "rw-register":
		return &elletxn.Workload{Kind: elle.RWRegister}, nil
	case "set":
		return &set.Workload{}, nil
	case "register":
		return &register.Workload{InfoAsFail: bug == "register-info-as-fail"}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(Workloads(), ", "))
}

// Presets are the fault presets accepted in Spec.Faults.
var Presets = []string{"none", "network", "all", "swarm"}

// Normalize fills in defaults and validates the spec.
func (s *Spec) Normalize() error {
	if s.Workload == "" {
		s.Workload = "counter"
	}
	if s.Faults == "" {
		s.Faults = "none"
	}
	if s.Duration == 0 {
		s.Duration = 5 * time.Second
	}
	if s.Clients == 0 {
		s.Clients = 3
	}
	if s.MaxSteps == 0 {
		s.MaxSteps = defaultMaxSteps
	}
	if s.LivenessBound == 0 {
		s.LivenessBound = DefaultLivenessBound
	}
	if s.Duration < 0 || s.Clients < 0 || s.LivenessBound < 0 || s.MaxOps < 0 {
		return fmt.Errorf("duration, clients, max ops and liveness bound must be positive")
	}
	wl, err := newWorkload(s.Workload, s.Bug)
	if err != nil {
		return err
	}
	if _, err := workloads.ParseTxnMode(s.Txn); err != nil {
		return err
	}
	if s.Bug != "" {
		if _, ok := Bugs[s.Bug]; !ok {
			return fmt.Errorf("unknown bug %q", s.Bug)
		}
	}
	if s.APIVersion != "" && s.APIVersion != "v1" && s.APIVersion != "v2" {
		return fmt.Errorf("api version %q: want v1 or v2", s.APIVersion)
	}
	if s.APIVersion == "v2" && !usesCluster(wl) {
		return fmt.Errorf("api version v2: workload %s has no cluster", s.Workload)
	}
	if err := validGC(s.GC); err != nil {
		return err
	}
	if s.GC != "" && s.GC != "off" && (!usesCluster(wl) || rawKeysOf(wl)) {
		return fmt.Errorf("gc %q: workload %s is not transactional", s.GC, s.Workload)
	}
	if !slices.Contains(Presets, s.Faults) {
		sched, err := ParseSchedule(s.Faults)
		if err != nil {
			return fmt.Errorf("faults: %q is neither a preset (%s) nor a fault schedule: %w", s.Faults, strings.Join(Presets, ", "), err)
		}
		if sched.usesCluster() && !usesCluster(wl) {
			return fmt.Errorf("faults: %q has cluster actions, but workload %s has no cluster", s.Faults, s.Workload)
		}
	}
	return nil
}

func usesCluster(wl workloads.Workload) bool {
	cw, ok := wl.(interface{ UsesCluster() bool })
	return ok && cw.UsesCluster()
}

// Run executes the spec. It never panics: a failing run comes back as a
// Result with Valid false and Error or Anomalies set.
func Run(spec Spec) (res Result) {
	stopWatch := wallTimer()
	res = Result{Seed: spec.Seed, Workload: spec.Workload, Faults: spec.Faults}
	defer func() { res.WallMS = stopWatch() }()
	if err := spec.Normalize(); err != nil {
		res.Error = err.Error()
		res.Class = ClassRun
		return res
	}
	res.Workload, res.Faults = spec.Workload, spec.Faults
	wl, _ := newWorkload(spec.Workload, spec.Bug)
	if tw, ok := wl.(interface{ SetTxnMode(string) }); ok {
		tw.SetTxnMode(spec.Txn)
	}

	var w *sim.World
	stopped := false
	trace := spec.Trace
	if k := spec.StopAtStep; k > 0 {
		trace = func(e sim.TraceEvent) {
			if e.Kind == sim.KindPick && e.Step == k {
				w.Stop()
				stopped = true
			}
			if spec.Trace != nil && e.Step <= k {
				spec.Trace(e)
			}
		}
	}
	w = sim.New(spec.Seed, sim.Options{
		MaxSteps: spec.MaxSteps,
		MaxTime:  spec.Duration + spec.LivenessBound + 5*time.Minute,
		Trace:    trace,
		Stall:    spec.WallStall,
	})
	net := network.New(w, network.Config{})
	r := clock.New(w)
	rec := workloads.NewRecorder(r)
	invoked := 0
	var endSafety context.CancelFunc // set during the safety phase
	rec.OnRecord = func(op checkers.Op) {
		w.Record(sim.KindOp, string(op.Type), op.F, uint64(op.Process))
		if op.Type == checkers.Invoke && endSafety != nil {
			if invoked++; spec.MaxOps > 0 && invoked >= spec.MaxOps {
				endSafety()
			}
		}
	}
	var servers []string
	env := &workloads.Env{
		Runtime:  r,
		Rand:     w.Rand("workload"),
		Recorder: rec,
		Clients:  spec.Clients,
		Serve: func(name string, h func(context.Context, string, any) (any, error)) {
			net.AddNode(name, h)
			servers = append(servers, name)
		},
		Call:         net.Call,
		Undetermined: network.IsUndetermined,
	}
	var clu *cluster.Cluster
	safePointTTL := txnkv.DefaultSafePointCacheTTL // lowered to 0 below when GC runs
	var ks *keyspace                               // API V2 only
	if usesCluster(wl) {
		// Raw KV workloads get raw region boundaries, transactional ones
		// memcomparable-encoded boundaries, as TiKV keeps each.
		cfg := cluster.Config{Stores: 3, SplitKeys: [][]byte{[]byte("reg2")}, TxnKeys: !rawKeysOf(wl)}
		if spec.APIVersion == "v2" {
			ks = &keyspace{raw: rawKeysOf(wl)}
			cfg = ks.config(cfg)
		}
		clu = cluster.New(w, net, cfg)
		servers = append(servers, cluster.PDNode)
		for _, id := range clu.StoreIDs() {
			servers = append(servers, cluster.StoreNode(id))
		}
		env.TxnKV = func(name string) (*txnkv.Client, error) {
			return txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(clu.NewTransport(name)), txnkv.WithPD(clu.NewPDClient(name)),
				txnkv.WithSafePointCacheTTL(safePointTTL))
		}
		env.RawKV = func(name string) (*rawkv.Client, error) {
			return rawkv.NewClient(rawkv.WithRuntime(r), rawkv.WithTransport(clu.NewTransport(name)),
				rawkv.WithPD(clu.NewPDClient(name)), rawkv.WithTimeout(time.Second))
		}
		if ks != nil {
			ks.clients(env, clu, r)
		}
	}
	var clients []string
	for i := 0; i <= spec.Clients; i++ { // one more for the final reader
		name := fmt.Sprintf("client%d", i)
		net.AddNode(name, nil)
		clients = append(clients, name)
	}
	nem := &nemesis{w: w, net: net, clu: clu, rng: w.Rand("nemesis")}
	gcp, _ := parseGC(spec.GC, w.Rand("gc"))
	if gcp != nil {
		// A cached GC safe point is only safe when GC lags every
		// transaction by more than the cache's age; under GC the clients
		// ask PD on every read check, so any lag, even 0, stays correct.
		safePointTTL = 0
	}
	var gcst gcStats
	var liveness error
	w.Spawn("harness", func() {
		ctx := context.Background()
		if ks != nil {
			if err := ks.create(ctx, w, clu); err != nil {
				panic(fmt.Sprintf("api v2 keyspace: %v", err))
			}
			nem.keyPrefix = ks.prefix()
		}
		if err := wl.Setup(env); err != nil {
			panic(fmt.Sprintf("workload setup: %v", err))
		}
		nem.nodes = append(append([]string(nil), servers...), clients[:spec.Clients]...)
		nem.servers = servers
		var gcCli *txnkv.Client
		if gcp != nil {
			var err error
			if gcCli, err = env.TxnKV("gc"); err != nil {
				panic(fmt.Sprintf("gc client: %v", err))
			}
			// Not among the nodes partitions split: drops and delays
			// reach it, but GC is meant to make progress.
			defer gcCli.Close()
		}
		if err := nem.plan(spec.Faults); err != nil {
			panic(err)
		}
		res.Setup = wl.Describe() + "; faults: " + nem.describe()
		if ks != nil {
			res.Setup += "; " + ks.describe()
		}
		if spec.GC != "" && spec.GC != "off" {
			if gcp == nil {
				res.Setup += "; gc: off"
			} else {
				res.Setup += "; gc: " + gcp.String()
			}
		}
		if spec.OnSetup != nil {
			spec.OnSetup(res.Setup)
		}
		safety, cancel := w.WithDeadline(ctx, w.Now().Add(spec.Duration))
		defer cancel()
		endSafety = cancel
		g := rt.NewGroup(r)
		for i := range spec.Clients {
			g.Go("client", func() error { wl.Client(safety, env, i); return nil })
		}
		stopNemesis := w.NewEvent()
		w.Spawn("nemesis", func() { nem.run(safety, stopNemesis) })
		stopGC := w.NewEvent()
		if gcp != nil {
			w.Spawn("gc", func() {
				defer stopGC.Fire()
				runGC(safety, w, gcCli, *gcp, &gcst)
			})
		} else {
			stopGC.Fire()
		}
		_ = g.Wait(ctx)
		_ = rt.WaitContext(r, safety)
		_ = stopNemesis.Wait(ctx)
		_ = stopGC.Wait(ctx)
		endSafety = nil
		// Liveness: heal everything, then the workload must converge.
		nem.healAll()
		live, cancelLive := w.WithDeadline(ctx, w.Now().Add(spec.LivenessBound))
		defer cancelLive()
		liveness = wl.Final(live, env)
		if liveness == nil && clu != nil && env.TxnKV != nil && !rawKeysOf(wl) {
			liveness = resolveAllLocks(live, env, clu, nem.keyPrefix)
		}
		w.Stop()
	})
	err := w.Run()
	res.Steps, res.SimMS, res.Hash = w.Steps(), w.Elapsed().Milliseconds(), w.TraceHash()
	res.TraceHash = fmt.Sprintf("%016x", res.Hash)
	res.Schedule = nem.log
	res.FaultSchedule = nem.schedule()
	res.History = rec.History()
	res.OpsOK, res.OpsFail, res.OpsInfo = rec.Counts()
	res.GCRuns, res.GCFailed, res.GCSafePoint = gcst.runs, gcst.failed, gcst.safePoint
	if err != nil {
		var f *sim.Failure
		if errors.As(err, &f) {
			res.Failure = f
		}
		res.Error = err.Error()
		res.Anomalies = []string{"sim-" + kindOf(err)}
		res.Class = ClassRun
		return res
	}
	if stopped {
		res.Stopped = spec.StopAtStep
		liveness = nil // the liveness phase never ran
	}
	res.Check = wl.Check(res.History)
	res.Anomalies = res.Check.Kinds()
	if len(res.Anomalies) > 0 {
		res.Class = ClassSafety
	}
	if liveness != nil {
		res.Liveness = liveness.Error()
		res.Anomalies = append(res.Anomalies, "liveness")
		if res.Class == "" {
			res.Class = ClassLiveness
		}
	}
	if res.Check.Verdict == checkers.Unknown {
		res.Anomalies = append(res.Anomalies, "unknown")
		if res.Class == "" {
			res.Class = ClassRun
		}
	}
	res.Valid = len(res.Anomalies) == 0
	if res.Anomalies == nil {
		res.Anomalies = []string{}
	}
	return res
}

func kindOf(err error) string {
	var f *sim.Failure
	if errors.As(err, &f) {
		return f.Kind.String()
	}
	return "error"
}

// nemesis injects faults during the safety phase: network faults, and for
// cluster workloads topology actions (split, merge, leader transfer, store
// crash, busy store, PD crash and leader change, TSO jump). Its plan is drawn
// from the seed: for the swarm preset each seed enables a random subset of
// fault kinds at random rates (swarm testing), so different seeds stress
// different mixes.
type nemesis struct {
	w       *sim.World
	net     *network.Network
	clu     *cluster.Cluster // nil for workloads without a cluster
	rng     *rand.Rand
	nodes   []string // every node a partition may split
	servers []string // nodes that may go down (network-level, non-cluster workloads)
	kinds   []string
	static  []fmt.Stringer // explicit entries applied at the start
	timed   []Entry        // explicit entries applied at their times
	rate    float64        // max drop/dup/reorder probability
	every   time.Duration  // mean time between nemesis actions
	down    map[string]bool
	crashed map[uint64]bool
	busy    map[uint64]bool
	pdDown  bool
	log     []string
	applied Schedule // the safety phase's faults, as an explicit schedule
	healing bool     // healAll has begun: stop recording applied
	// keyPrefix, in API V2, prefixes the keys of topology actions, which
	// the schedule records in user keys.
	keyPrefix []byte
}

var (
	networkKinds = []string{"drop", "dup", "reorder", "delay", "partition", "oneway", "isolate"}
	clusterKinds = []string{"split", "merge", "transfer", "crash", "busy", "pd", "tso-jump"}
)

// allKinds is every kind that applies to this run.
func (n *nemesis) allKinds() []string {
	if n.clu != nil {
		return append(n.netKinds(), clusterKinds...)
	}
	return append(n.netKinds(), "down")
}

// netKinds is the network kinds that apply. Duplication is left out for
// cluster workloads: the client reaches stores over gRPC on TCP, which never
// delivers a request twice, and a duplicated raw CAS or put is applied twice
// by TiKV as well (seed 173 of the register workload showed exactly that: a
// CAS applied by its first copy and answered "not swapped" by its second).
// An explicit fault list may still ask for dup(p).
func (n *nemesis) netKinds() []string {
	if n.clu == nil {
		return slices.Clone(networkKinds)
	}
	return slices.DeleteFunc(slices.Clone(networkKinds), func(k string) bool { return k == "dup" })
}

func (n *nemesis) plan(spec string) error {
	n.down, n.crashed, n.busy = map[string]bool{}, map[uint64]bool{}, map[uint64]bool{}
	n.rate = 0.2
	n.every = 500 * time.Millisecond
	switch spec {
	case "none":
	case "network":
		n.kinds = n.netKinds()
	case "all":
		n.kinds = n.allKinds()
	case "swarm":
		all := n.allKinds()
		for _, k := range all {
			if n.rng.IntN(2) == 0 {
				n.kinds = append(n.kinds, k)
			}
		}
		if len(n.kinds) == 0 {
			n.kinds = []string{all[n.rng.IntN(len(all))]}
		}
		n.rate = 0.02 + 0.3*n.rng.Float64()
		n.every = time.Duration(50+n.rng.IntN(950)) * time.Millisecond
	default:
		sched, err := ParseSchedule(spec)
		if err != nil {
			return err
		}
		for _, e := range sched {
			if e.Timed {
				n.timed = append(n.timed, e)
			} else {
				n.static = append(n.static, e.Fault)
			}
		}
	}
	return nil
}

func (n *nemesis) describe() string {
	if len(n.static)+len(n.timed) > 0 {
		var sched Schedule
		for _, f := range n.static {
			sched = append(sched, Entry{Fault: f})
		}
		return Schedule(append(sched, n.timed...)).String()
	}
	if len(n.kinds) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s every ~%v, rates <= %.2f", strings.Join(n.kinds, ","), n.every, n.rate)
}

// apply injects one fault or action and logs it. A topology action that does
// not apply (a split at an existing boundary, ...) is logged as refused.
// timed says whether the nemesis slept for it (every entry but the explicit
// ones applied at the start), which is how a replay must apply it.
func (n *nemesis) apply(a fmt.Stringer, timed bool) {
	if !n.healing {
		n.applied = append(n.applied, Entry{At: n.w.Elapsed(), Timed: timed, Fault: a})
	}
	entry := fmt.Sprintf("%v %s", n.w.Elapsed(), a)
	switch f := a.(type) {
	case network.Fault:
		if err := f.Apply(n.net); err != nil {
			panic(fmt.Sprintf("nemesis: %v", err))
		}
	case cluster.Action:
		if err := prefixAction(f, n.keyPrefix).Apply(n.clu); err != nil {
			entry += " (refused)"
		}
	}
	n.log = append(n.log, entry)
}

func (n *nemesis) run(ctx context.Context, done *sim.Event) {
	defer done.Fire()
	for _, f := range n.static {
		n.track(f)
		n.apply(f, false)
	}
	if len(n.timed) > 0 {
		n.replay(ctx)
		return
	}
	if len(n.kinds) == 0 {
		return
	}
	for {
		d := time.Duration(n.rng.Int64N(int64(2 * n.every)))
		if n.w.Sleep(ctx, d) != nil {
			return
		}
		n.apply(n.pick(), true)
	}
}

// replay applies the timed entries of an explicit schedule. It sleeps exactly
// as the preset loop did when it chose them (one sleep per entry, then one
// that the end of the safety phase cancels), so a schedule recorded from a
// preset run replays with the same trace hash.
func (n *nemesis) replay(ctx context.Context) {
	for _, e := range n.timed {
		if n.w.Sleep(ctx, max(0, e.At-n.w.Elapsed())) != nil {
			return
		}
		n.track(e.Fault)
		n.apply(e.Fault, true)
	}
	wait := time.Hour
	if dl, ok := ctx.Deadline(); ok {
		wait += dl.Sub(n.w.Now())
	}
	_ = n.w.Sleep(ctx, wait)
}

// track updates what is in force after an explicit entry, as pick does for
// the faults it chooses, so that healAll undoes it.
func (n *nemesis) track(f fmt.Stringer) {
	switch f := f.(type) {
	case network.Down:
		n.down[f.Node] = true
	case network.Up:
		delete(n.down, f.Node)
	case cluster.CrashAction:
		n.crashed[f.Store] = true
	case cluster.RestartAction:
		delete(n.crashed, f.Store)
	case cluster.BusyAction:
		n.busy[f.Store] = f.Busy
	case cluster.PDAction:
		switch f.Op {
		case "crash":
			n.pdDown = true
		case "restart":
			n.pdDown = false
		}
	}
}

// schedule returns the faults applied in the safety phase as an explicit
// schedule.
func (n *nemesis) schedule() Schedule { return slices.Clone(n.applied) }

func (n *nemesis) prob() float64 { return float64(int(n.rng.Float64()*n.rate*100)) / 100 }

func (n *nemesis) pickNode(from []string) string { return from[n.rng.IntN(len(from))] }

// pick chooses the next fault: about a third of the time a heal of what is
// in force, otherwise a new fault of an enabled kind.
func (n *nemesis) pick() fmt.Stringer {
	if n.rng.IntN(3) == 0 {
		if downs := sortedKeys(n.down); len(downs) > 0 && n.rng.IntN(2) == 0 {
			node := n.pickNode(downs)
			delete(n.down, node)
			return network.Up{Node: node}
		}
		return network.Heal{}
	}
	switch k := n.kinds[n.rng.IntN(len(n.kinds))]; k {
	case "drop":
		return network.Drop{P: n.prob()}
	case "dup":
		return network.Dup{P: n.prob()}
	case "reorder":
		return network.Reorder{P: n.prob()}
	case "delay":
		lo := time.Duration(n.rng.IntN(2000)) * time.Microsecond
		return network.Delay{Latency: network.Latency{Min: lo, Max: lo + time.Duration(n.rng.IntN(20))*time.Millisecond}}
	case "partition":
		if len(n.nodes) < 2 {
			return network.Heal{}
		}
		nodes := slices.Clone(n.nodes)
		n.rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		cut := 1 + n.rng.IntN(len(nodes)-1)
		a, b := nodes[:cut], nodes[cut:]
		sort.Strings(a)
		sort.Strings(b)
		return network.Partition{Groups: [][]string{a, b}}
	case "oneway":
		from := n.pickNode(n.nodes)
		to := n.pickNode(n.nodes)
		for to == from {
			to = n.pickNode(n.nodes)
		}
		return network.OneWay{From: from, To: to}
	case "isolate":
		return network.Isolate{Node: n.pickNode(n.nodes)}
	case "down":
		node := n.pickNode(n.servers)
		if n.down[node] {
			delete(n.down, node)
			return network.Up{Node: node}
		}
		n.down[node] = true
		return network.Down{Node: node}
	default:
		return n.pickCluster(k)
	}
}

func (n *nemesis) randomKey() []byte {
	return []byte(fmt.Sprintf("reg%d", n.rng.IntN(6)))
}

func (n *nemesis) randomStore() uint64 {
	ids := n.clu.StoreIDs()
	return ids[n.rng.IntN(len(ids))]
}

func (n *nemesis) pickCluster(kind string) fmt.Stringer {
	switch kind {
	case "split":
		return cluster.SplitAction{Key: n.randomKey()}
	case "merge":
		return cluster.MergeAction{Key: n.randomKey()}
	case "transfer":
		return cluster.TransferAction{Key: n.randomKey(), Store: n.randomStore()}
	case "crash":
		id := n.randomStore()
		if n.crashed[id] {
			delete(n.crashed, id)
			return cluster.RestartAction{Store: id}
		}
		n.crashed[id] = true
		return cluster.CrashAction{Store: id}
	case "busy":
		id := n.randomStore()
		n.busy[id] = !n.busy[id]
		return cluster.BusyAction{Store: id, Busy: n.busy[id]}
	case "pd":
		switch {
		case n.pdDown:
			n.pdDown = false
			return cluster.PDAction{Op: "restart"}
		case n.rng.IntN(2) == 0:
			return cluster.PDAction{Op: "leader"}
		default:
			n.pdDown = true
			return cluster.PDAction{Op: "crash"}
		}
	case "tso-jump":
		return cluster.TSOJumpAction{D: time.Duration(1+n.rng.IntN(10)) * time.Second}
	}
	panic("nemesis: unknown kind " + kind)
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// healAll ends every fault: the start of the liveness phase.
func (n *nemesis) healAll() {
	n.healing = true
	for _, node := range sortedKeys(n.down) {
		n.apply(network.Up{Node: node}, false)
	}
	n.down = map[string]bool{}
	for _, f := range []network.Fault{network.Heal{}, network.Drop{}, network.Dup{}, network.Reorder{}} {
		n.apply(f, false)
	}
	if n.clu == nil {
		return
	}
	for _, id := range sortedKeys(n.crashed) {
		n.apply(cluster.RestartAction{Store: id}, false)
	}
	for _, id := range sortedKeys(n.busy) {
		if n.busy[id] {
			n.apply(cluster.BusyAction{Store: id, Busy: false}, false)
		}
	}
	if n.pdDown {
		n.apply(cluster.PDAction{Op: "restart"}, false)
	}
	n.crashed, n.busy, n.pdDown = map[uint64]bool{}, map[uint64]bool{}, false
}

// rawKeysOf reports whether the workload's cluster serves raw KV data.
func rawKeysOf(wl workloads.Workload) bool {
	_, raw := wl.(interface{ RawKeys() bool })
	return raw
}

// resolveAllLocks is the rest of a transactional workload's liveness phase:
// once healed, every lock left in the cluster must be resolvable within the
// bound, as TiKV's GC resolve-locks pass would clean them (secondary locks of
// committed transactions, locks of abandoned ones). It resolves them with a
// fresh client and fails when any remains at the deadline.
func resolveAllLocks(ctx context.Context, env *workloads.Env, clu *cluster.Cluster, prefix []byte) error {
	cli, err := env.TxnKV("liveness-locks")
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		infos := userLocks(clu.Engine().Snapshot().Locks(), prefix)
		if len(infos) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d lock(s) remain after heal, e.g. %v", len(infos), infos[0])
		}
		ts, err := cli.GetTimestamp(ctx)
		if err == nil {
			locks := make([]*txnlock.Lock, len(infos))
			for i, l := range infos {
				locks[i] = txnlock.NewLock(l)
			}
			bo := retry.NewBackoffer(ctx, 20000, retry.Env{Clock: env.Runtime, Rand: env.Runtime.NewRand()})
			var ms int64
			if ms, err = cli.LockResolver().ResolveLocks(bo, ts, locks); err == nil && ms == 0 {
				continue
			}
		}
		_ = env.Runtime.Sleep(ctx, 200*time.Millisecond)
	}
}
