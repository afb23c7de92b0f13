package kv

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tikvsim/tikvsim/client/tikverr"
)

// Lock wait times for LockCtx (client-go kv/kv.go): wait for a lock held by
// another transaction forever, or not at all.
const (
	// LockAlwaysWait waits until the lock is released (or the statement
	// is killed); TiKV still answers every wait-for-lock-timeout and the
	// client asks again.
	LockAlwaysWait = int64(1<<63 - 1)
	// LockNoWait fails at once with tikverr.ErrLockAcquireFailAndNoWaitSet.
	LockNoWait = int64(-1)
)

// ReturnedValue is what locking one key reported about it (client-go
// kv.ReturnedValue).
type ReturnedValue struct {
	// Value is the key's latest committed value when the lock was taken
	// (LockCtx.ReturnValues, or a lock taken with a conflict).
	Value []byte
	// Exists reports whether the key existed (ReturnValues or
	// CheckExistence).
	Exists bool
	// AlreadyLocked: the key was locked by an earlier LockKeys of the
	// transaction, so nothing was asked of TiKV and Value is not set.
	AlreadyLocked bool
	// LockedWithConflictTS is the commit ts of the newer write the lock
	// was taken over (aggressive locking only), else 0.
	LockedWithConflictTS uint64
}

// LockCtx carries the options and the results of one LockKeys call
// (client-go kv.LockCtx). Build it with NewLockCtx. The fields are read by
// LockKeys; Values and MaxLockedWithConflictTS are written by it.
type LockCtx struct {
	// Killed, when it holds a non-zero value, interrupts a lock wait with
	// tikverr.ErrQueryInterrupted (checked between waits).
	Killed *uint32
	// ForUpdateTS is the timestamp the locks are taken at: a write
	// committed after it makes the lock fail with a write conflict.
	ForUpdateTS uint64
	// WaitStartTime is when the statement started waiting: the wait time
	// counts from it (on the client's runtime clock).
	WaitStartTime time.Time
	// PessimisticLockWaited, when set, is set to 1 (atomically) once a
	// request waited.
	PessimisticLockWaited *int32
	// ReturnValues asks TiKV for the keys' latest values, put in Values.
	ReturnValues bool
	// CheckExistence asks only whether the keys exist (Values[k].Exists).
	CheckExistence bool
	// LockOnlyIfExists locks only keys that exist; it needs ReturnValues.
	LockOnlyIfExists bool
	// InShareMode takes shared locks (SELECT ... LOCK IN SHARE MODE) in a
	// pessimistic transaction whose primary is already locked: other
	// transactions may share the key, none may lock it exclusively.
	InShareMode bool
	// OnDeadlock, when set, is called with every deadlock LockKeys meets.
	OnDeadlock func(*tikverr.ErrDeadlock)

	// ValuesLock guards Values.
	ValuesLock sync.Mutex
	// Values holds, per string(key), what locking reported (ReturnValues,
	// CheckExistence, or keys already locked).
	Values map[string]ReturnedValue
	// MaxLockedWithConflictTS is the largest LockedWithConflictTS seen:
	// the statement must read at or after it.
	MaxLockedWithConflictTS uint64

	lockWaitTime int64
}

// NewLockCtx returns a LockCtx locking at forUpdateTS, waiting at most
// lockWaitTime ms (LockAlwaysWait, LockNoWait, or a positive number) counted
// from waitStartTime.
func NewLockCtx(forUpdateTS uint64, lockWaitTime int64, waitStartTime time.Time) *LockCtx {
	return &LockCtx{ForUpdateTS: forUpdateTS, lockWaitTime: lockWaitTime, WaitStartTime: waitStartTime}
}

// LockWaitTime returns the wait time in ms (LockAlwaysWait, LockNoWait or a
// positive number).
func (c *LockCtx) LockWaitTime() int64 { return c.lockWaitTime }

// InitReturnValues turns ReturnValues on and makes Values.
func (c *LockCtx) InitReturnValues(capacity int) {
	c.ReturnValues = true
	if c.Values == nil {
		c.Values = make(map[string]ReturnedValue, capacity)
	}
}

// InitCheckExistence turns CheckExistence on and makes Values.
func (c *LockCtx) InitCheckExistence(capacity int) {
	c.CheckExistence = true
	if c.Values == nil {
		c.Values = make(map[string]ReturnedValue, capacity)
	}
}

// GetValueNotLocked returns the value TiKV returned for key when the key
// was not already locked: (value, true), or (nil, false).
func (c *LockCtx) GetValueNotLocked(key []byte) ([]byte, bool) {
	c.ValuesLock.Lock()
	defer c.ValuesLock.Unlock()
	rv, ok := c.Values[string(key)]
	if !ok || rv.AlreadyLocked {
		return nil, false
	}
	return rv.Value, true
}

// IterateValuesNotLocked calls f for every returned value of a key that was
// not already locked, in key order (client-go leaves the order to its map;
// a fixed order keeps callers' behaviour replayable).
func (c *LockCtx) IterateValuesNotLocked(f func(key, value []byte)) {
	c.ValuesLock.Lock()
	defer c.ValuesLock.Unlock()
	for _, k := range slices.Sorted(maps.Keys(c.Values)) {
		if v := c.Values[k]; !v.AlreadyLocked {
			f([]byte(k), v.Value)
		}
	}
}

// IsKilled reports whether Killed is set.
func (c *LockCtx) IsKilled() bool { return c.Killed != nil && atomic.LoadUint32(c.Killed) != 0 }

// SetValue records rv for key under ValuesLock (used by LockKeys).
func (c *LockCtx) SetValue(key []byte, rv ReturnedValue) {
	c.ValuesLock.Lock()
	defer c.ValuesLock.Unlock()
	if c.Values == nil {
		c.Values = map[string]ReturnedValue{}
	}
	c.Values[string(key)] = rv
}
