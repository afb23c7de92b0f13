package grpc

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// The batch policy names (client-go config/client.go BatchPolicy*).
const (
	// BatchPolicyBasic sends whatever has queued up when the send loop wakes
	// and never waits for more, except under the overload rule
	// (client-go before v8.3.0).
	BatchPolicyBasic = "basic"
	// BatchPolicyStandard waits up to 100µs for more requests when recent
	// requests arrived close together (an exponentially weighted average of
	// arrival intervals below 80µs). It is the default.
	BatchPolicyStandard = "standard"
	// BatchPolicyPositive always waits up to 100µs for more requests.
	BatchPolicyPositive = "positive"
	// BatchPolicyCustom is followed by a JSON object of TurboOptions, e.g.
	// `custom {"v":1,"t":0.0002,"n":5,"w":0.2,"p":0.8,"q":0.8}`.
	BatchPolicyCustom = "custom"
)

// The TurboOptions.V strategies (client-go client_batch.go turboBatch*).
const (
	// TurboAlways always waits for more requests.
	TurboAlways = 0
	// TurboTimeBased waits when the smoothed arrival interval is short.
	TurboTimeBased = 1
	// TurboProbBased waits when the smoothed probability that the next
	// request arrives within T is high.
	TurboProbBased = 2
)

// TurboOptions are the knobs of the extra-batching ("turbo") trigger, with
// client-go's JSON names (client_batch.go turboBatchOptions).
type TurboOptions struct {
	// V is the strategy: TurboAlways, TurboTimeBased or TurboProbBased.
	V int `json:"v"`
	// N caps an observed arrival interval at N*T (time-based only).
	N int `json:"n,omitempty"`
	// T is the longest extra wait, in seconds. Zero disables waiting.
	T float64 `json:"t,omitempty"`
	// W is the weight of the newest observation in the moving average.
	W float64 `json:"w,omitempty"`
	// P is the threshold: wait when the average interval < P*T
	// (time-based) or the average probability > P (prob-based).
	P float64 `json:"p,omitempty"`
	// Q rounds the preferred wait size up when the fractional part of the
	// average batch size is at least Q.
	Q float64 `json:"q,omitempty"`
}

// presetPolicies are client-go's preset batch policies (client_batch.go
// presetBatchPolicies).
var presetPolicies = map[string]TurboOptions{
	BatchPolicyBasic:    {},
	BatchPolicyStandard: {V: TurboTimeBased, T: 0.0001, N: 5, W: 0.2, P: 0.8, Q: 0.8},
	BatchPolicyPositive: {V: TurboAlways, T: 0.0001},
}

// ParseBatchPolicy returns the turbo options of a policy name: one of the
// presets, or BatchPolicyCustom followed by a JSON object. Unlike client-go,
// which falls back to the standard policy with a warning, an invalid policy
// is an error.
func ParseBatchPolicy(policy string) (TurboOptions, error) {
	if policy == "" {
		policy = BatchPolicyStandard
	}
	if o, ok := presetPolicies[policy]; ok {
		return o, nil
	}
	raw, ok := strings.CutPrefix(policy, BatchPolicyCustom)
	if !ok {
		return TurboOptions{}, fmt.Errorf("grpc transport: unknown batch policy %q", policy)
	}
	var o TurboOptions
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &o); err != nil {
		return TurboOptions{}, fmt.Errorf("grpc transport: batch policy %q: %w", policy, err)
	}
	if o.V < TurboAlways || o.V > TurboProbBased || o.T < 0 || o.N < 0 {
		return TurboOptions{}, fmt.Errorf("grpc transport: batch policy %q out of range", policy)
	}
	return o, nil
}

// turboTrigger decides, from the arrival interval of each batch's first
// request, whether to wait for more requests (client-go client_batch.go
// turboBatchTrigger). It is pure: the caller passes every observation.
type turboTrigger struct {
	opts TurboOptions

	estFetchMoreProb   float64
	estArrivalInterval float64
	maxArrivalInterval float64
}

// waitTime is the longest extra wait, zero when the trigger never waits.
func (t *turboTrigger) waitTime() time.Duration {
	return time.Duration(t.opts.T * float64(time.Second))
}

// needFetchMore folds one arrival interval into the trigger's estimate and
// reports whether to wait for more requests.
func (t *turboTrigger) needFetchMore(interval time.Duration) bool {
	switch t.opts.V {
	case TurboTimeBased:
		this := interval.Seconds()
		if t.maxArrivalInterval == 0 {
			t.maxArrivalInterval = t.opts.T * float64(t.opts.N)
		}
		this = min(this, t.maxArrivalInterval)
		if t.estArrivalInterval == 0 {
			t.estArrivalInterval = this
		} else {
			t.estArrivalInterval = t.opts.W*this + (1-t.opts.W)*t.estArrivalInterval
		}
		return t.estArrivalInterval < t.opts.T*t.opts.P
	case TurboProbBased:
		this := 0.0
		if interval.Seconds() < t.opts.T {
			this = 1
		}
		t.estFetchMoreProb = t.opts.W*this + (1-t.opts.W)*t.estFetchMoreProb
		return t.estFetchMoreProb > t.opts.P
	default:
		return true
	}
}

// preferredWaitSize is how many requests to wait for: the running average
// batch size rounded by Q, or def for TurboAlways.
func (t *turboTrigger) preferredWaitSize(avg float64, def int) int {
	if t.opts.V == TurboAlways {
		return def
	}
	n, frac := math.Modf(avg)
	size := int(n)
	if frac >= t.opts.Q {
		size++
	}
	return size
}

// BatchOptions configure how a connection's send loop groups requests into
// BatchCommands messages (client-go config.TiKVClient batch fields).
type BatchOptions struct {
	// Policy is a BatchPolicy* name; "" means BatchPolicyStandard.
	Policy string
	// MaxBatchSize caps the requests in one message. Zero turns batching
	// off: every request goes as a unary RPC. Default (when the whole
	// Options is zero) 128.
	MaxBatchSize int
	// MaxWaitTime is how long to wait for WaitSize requests when the store
	// reports a transport-layer load above OverloadThreshold. Zero (the
	// default) disables the overload rule.
	MaxWaitTime time.Duration
	// WaitSize is the batch size the overload rule waits for, and the
	// starting point of the turbo trigger's average. Default 8.
	WaitSize int
	// OverloadThreshold is the store load (BatchCommandsResponse
	// transport_layer_load) above which the overload rule applies.
	// Default 200.
	OverloadThreshold uint64
}

// batchPlan is what the send loop does with a non-full batch.
type batchPlan struct {
	// Wait is false when the batch goes out as it is.
	Wait bool
	// WaitSize is the batch size to wait for.
	WaitSize int
	// WaitTime bounds the wait.
	WaitTime time.Duration
}

// planner holds a connection's batching decisions: the turbo trigger, the
// running average batch size and the last arrival time. It has no clock and
// no channels: the send loop reports each arrival and batch and asks for a
// plan (client-go conn_batch.go batchSendLoop, the decision part).
type planner struct {
	opts    BatchOptions
	trigger turboTrigger
	// avgSize is the exponentially weighted average batch size.
	avgSize float64
	// lastArrive is the latest arrival time of a request in an earlier batch.
	lastArrive time.Time
}

func newPlanner(opts BatchOptions, turbo TurboOptions) *planner {
	return &planner{opts: opts, trigger: turboTrigger{opts: turbo}, avgSize: float64(opts.WaitSize)}
}

// headInterval returns the gap between the previous batches' latest arrival
// and the arrival of a new batch's first request; zero for the first batch
// or an out-of-order arrival.
func (p *planner) headInterval(arrive time.Time) time.Duration {
	if p.lastArrive.IsZero() || !arrive.After(p.lastArrive) {
		return 0
	}
	return arrive.Sub(p.lastArrive)
}

// arrived records the arrival time of a request added to the batch.
func (p *planner) arrived(arrive time.Time) {
	if arrive.After(p.lastArrive) {
		p.lastArrive = arrive
	}
}

// plan decides whether a batch of n requests, whose head arrived
// headInterval after the previous batches, should wait for more, given the
// store's last reported load.
func (p *planner) plan(n int, headInterval time.Duration, load uint64) batchPlan {
	if n >= p.opts.MaxBatchSize {
		return batchPlan{}
	}
	if p.opts.MaxWaitTime > 0 && load > p.opts.OverloadThreshold {
		return batchPlan{Wait: true, WaitSize: p.opts.WaitSize, WaitTime: p.opts.MaxWaitTime}
	}
	if wt := p.trigger.waitTime(); wt > 0 && headInterval > 0 && p.trigger.needFetchMore(headInterval) {
		return batchPlan{Wait: true, WaitSize: p.trigger.preferredWaitSize(p.avgSize, p.opts.WaitSize), WaitTime: wt}
	}
	return batchPlan{}
}

// sent records the size of a batch that went out.
func (p *planner) sent(n int) {
	p.avgSize = 0.2*float64(n) + 0.8*p.avgSize
}
