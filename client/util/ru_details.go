package util

import (
	"context"
	"fmt"
	"sync"
	"time"

	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
)

// RUDetailsCtxKeyType is the type of RUDetailsCtxKey.
type RUDetailsCtxKeyType struct{}

// RUDetailsCtxKey is the context key of a *RUDetails: the request sender
// adds to it what the resource controller charged and how long it made
// requests wait (client-go util.RUDetailsCtxKey).
var RUDetailsCtxKey = RUDetailsCtxKeyType{}

// WithRUDetails returns a copy of ctx that collects its requests' RU
// consumption into d.
func WithRUDetails(ctx context.Context, d *RUDetails) context.Context {
	return context.WithValue(ctx, RUDetailsCtxKey, d)
}

// RUDetailsFromCtx returns the RUDetails bound to ctx, nil if none.
func RUDetailsFromCtx(ctx context.Context) *RUDetails {
	d, _ := ctx.Value(RUDetailsCtxKey).(*RUDetails)
	return d
}

// RUDetails accumulates the request units a statement consumed and the time
// it waited for them (client-go util/execdetails.go RUDetails, RU v1). It is
// safe for concurrent use; a nil *RUDetails ignores updates and reads as 0.
type RUDetails struct {
	mu   sync.Mutex
	rru  float64
	wru  float64
	wait time.Duration
}

// NewRUDetails returns empty details.
func NewRUDetails() *RUDetails { return &RUDetails{} }

// NewRUDetailsWith returns details holding the given totals.
func NewRUDetailsWith(rru, wru float64, wait time.Duration) *RUDetails {
	return &RUDetails{rru: rru, wru: wru, wait: wait}
}

// Update adds consumption's read and write RU and wait. A nil consumption
// adds nothing, not even the wait (as in client-go).
func (d *RUDetails) Update(consumption *rmpb.Consumption, wait time.Duration) {
	if d == nil || consumption == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rru += consumption.RRU
	d.wru += consumption.WRU
	d.wait += wait
}

// Merge adds other's totals to d.
func (d *RUDetails) Merge(other *RUDetails) {
	if d == nil || other == nil {
		return
	}
	rru, wru, wait := other.RRU(), other.WRU(), other.RUWaitDuration()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rru += rru
	d.wru += wru
	d.wait += wait
}

// Clone returns a copy of d.
func (d *RUDetails) Clone() *RUDetails {
	return NewRUDetailsWith(d.RRU(), d.WRU(), d.RUWaitDuration())
}

// RRU returns the read RU.
func (d *RUDetails) RRU() float64 {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rru
}

// WRU returns the write RU.
func (d *RUDetails) WRU() float64 {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wru
}

// RUWaitDuration returns the time spent waiting for RU.
func (d *RUDetails) RUWaitDuration() time.Duration {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wait
}

// String implements fmt.Stringer.
func (d *RUDetails) String() string {
	return fmt.Sprintf("RRU:%f, WRU:%f, WaitDuration:%v", d.RRU(), d.WRU(), d.RUWaitDuration())
}
