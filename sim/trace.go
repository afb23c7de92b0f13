package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kind says what a trace event records.
type Kind uint8

// The kinds of trace events.
const (
	KindSpawn Kind = iota + 1 // a task was created (Task, Name)
	KindPick                  // the scheduler handed the baton to Task
	KindTimer                 // a timer fired; Arg is its sequence number
	KindExit                  // Task returned
	KindPanic                 // Task panicked; Text is the panic value
	KindFault                 // a fault was injected; Text says which
	KindNet                   // a network event; Name is the event, Text its detail
	KindOp                    // a client operation invoke/complete
	KindLog                   // anything else a component chose to record
)

var kindNames = [...]string{"", "spawn", "pick", "timer", "exit", "panic", "fault", "net", "op", "log"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind%d", k)
}

// TraceEvent is one entry of a run's trace.
type TraceEvent struct {
	Step uint64        // scheduling steps taken so far
	Time time.Duration // virtual time since the start of the run
	Kind Kind
	Task int    // the task concerned, 0 for none
	Name string // task name or event name
	Arg  uint64 // kind-specific number
	Text string // kind-specific detail
}

func (e TraceEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%8d %12v %-5s", e.Step, e.Time, e.Kind)
	if e.Task != 0 {
		fmt.Fprintf(&b, " t%d", e.Task)
	}
	if e.Name != "" {
		b.WriteString(" " + e.Name)
	}
	if e.Arg != 0 {
		fmt.Fprintf(&b, " #%d", e.Arg)
	}
	if e.Text != "" {
		b.WriteString(" " + e.Text)
	}
	return b.String()
}

// MarshalJSON writes the event as one JSONL trace record.
func (e TraceEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Step uint64 `json:"step"`
		Time int64  `json:"time_ns"`
		Kind string `json:"kind"`
		Task int    `json:"task,omitempty"`
		Name string `json:"name,omitempty"`
		Arg  uint64 `json:"arg,omitempty"`
		Text string `json:"text,omitempty"`
	}{e.Step, int64(e.Time), e.Kind.String(), e.Task, e.Name, e.Arg, e.Text})
}

const traceTail = 64

// trace folds events into a running FNV-1a style 64-bit hash and keeps the
// last traceTail events for failure reports.
type trace struct {
	hash uint64
	n    uint64
	tail [traceTail]TraceEvent
	sink func(TraceEvent)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (t *trace) init() { t.hash = fnvOffset }

func (t *trace) mix(x uint64) {
	// Fold a whole word at a time: cheaper than byte-wise FNV and just as
	// order-sensitive, which is all a trace hash needs.
	t.hash = (t.hash ^ x) * fnvPrime
	t.hash ^= t.hash >> 29
}

func (t *trace) mixString(s string) {
	for i := 0; i < len(s); i++ {
		t.hash = (t.hash ^ uint64(s[i])) * fnvPrime
	}
}

func (t *trace) add(e TraceEvent) {
	t.mix(uint64(e.Kind) | uint64(e.Task)<<8)
	t.mix(uint64(e.Time))
	t.mix(e.Arg)
	if e.Name != "" {
		t.mixString(e.Name)
	}
	if e.Text != "" {
		t.mixString(e.Text)
	}
	t.tail[t.n%traceTail] = e
	t.n++
	if t.sink != nil {
		t.sink(e)
	}
}

// last returns up to n of the most recent events, oldest first.
func (t *trace) last(n int) []TraceEvent {
	if uint64(n) > t.n {
		n = int(t.n)
	}
	if n > traceTail {
		n = traceTail
	}
	out := make([]TraceEvent, 0, n)
	for i := t.n - uint64(n); i < t.n; i++ {
		out = append(out, t.tail[i%traceTail])
	}
	return out
}
