package transaction

import (
	"context"
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// managedLockTTL is the TTL the TTL manager keeps extending the primary lock
// by while the commit is in progress (client-go ManagedLockTTL, 20s).
const managedLockTTL = 20 * time.Second

// maxConsecutiveFailure is how many heartbeats in a row may fail before
// the TTL manager gives up (client-go keepAlive, 10).
const maxConsecutiveFailure = 10

// maxTxnTTL is how long the TTL manager keeps a transaction's locks alive
// at most (client-go MaxTxnTTL, 1 hour).
const maxTxnTTL = time.Hour

// ttlManager keeps the primary lock alive while a commit runs long (client-go
// 2pc.go ttlManager/keepAlive): every half TTL it sends TxnHeartBeat with a
// TTL of the time spent so far plus managedLockTTL, so other transactions
// do not roll back a transaction that is still committing.
type ttlManager struct {
	stop rt.Event
	// primary is the key whose lock is kept alive: a pessimistic
	// transaction may choose another primary after this manager stopped.
	primary []byte
}

// startTTLManager starts the heartbeat task; stop it with ttlManager.close.
func (c *committer) startTTLManager() *ttlManager {
	m := &ttlManager{stop: c.store.RT.NewEvent(), primary: c.primary}
	c.store.RT.Go("ttl-manager", func() { c.keepAlive(m) })
	return m
}

func (m *ttlManager) close() { m.stop.Fire() }

func (c *committer) keepAlive(m *ttlManager) {
	r := c.store.RT
	interval := time.Duration(defaultLockTTL/2) * time.Millisecond
	failures := 0
	for {
		ctx, cancel := rt.WithTimeout(r, context.Background(), interval)
		err := m.stop.Wait(ctx)
		cancel()
		if err == nil {
			return // stopped
		}
		if rt.Since(r, c.startTime) > maxTxnTTL {
			// Give up: the transaction ran too long (client-go keepAlive,
			// MaxTxnTTL); its locks expire and others may roll it back.
			return
		}
		ttl := uint64((rt.Since(r, c.startTime) + managedLockTTL).Milliseconds())
		bo := c.backoffer(c.background(), 2000)
		req := &kvrpcpb.TxnHeartBeatRequest{PrimaryLock: m.primary, StartVersion: c.startTS, AdviseLockTtl: ttl}
		loc, err := c.store.Sender.Cache().LocateKey(bo.GetCtx(), nil, m.primary)
		if err != nil {
			if failures++; failures > maxConsecutiveFailure {
				return
			}
			continue
		}
		resp, _, err := c.store.Sender.Send(bo.GetCtx(), bo, tikvrpc.NewRequest(tikvrpc.CmdTxnHeartBeat, req), loc.Region, interval)
		if err == nil {
			if re, _ := resp.GetRegionError(); re != nil {
				err = errors.New(re.String())
			}
		}
		if err != nil {
			// client-go keepAlive: give up after maxConsecutiveFailure
			// failed heartbeats in a row (the locks then expire).
			if failures++; failures > maxConsecutiveFailure {
				return
			}
			continue
		}
		failures = 0
		if r, ok := resp.Resp.(*kvrpcpb.TxnHeartBeatResponse); ok && r.GetError() != nil {
			return // the lock is gone: committed or rolled back
		}
		interval = managedLockTTL / 2
	}
}

// startTTLManagerOnce starts the TTL manager the first time it is called:
// once the batch holding the primary is prewritten (client-go
// handleSingleBatchSucceed), not after every batch, so a slow secondary
// region cannot let the primary lock expire under a live commit.
func (c *committer) startTTLManagerOnce() {
	c.mu.Lock()
	start := c.ttl == nil
	if start {
		c.ttl = &ttlManager{stop: c.store.RT.NewEvent(), primary: c.primary}
	}
	m := c.ttl
	c.mu.Unlock()
	if start { // spawned outside the mutex: no lock across the runtime
		c.store.RT.Go("ttl-manager", func() { c.keepAlive(m) })
	}
}

// stopTTLManager stops the TTL manager if it runs: the commit is decided.
func (c *committer) stopTTLManager() {
	c.mu.Lock()
	m := c.ttl
	c.mu.Unlock()
	if m != nil {
		m.close()
	}
}

// resetTTLManager stops the TTL manager and forgets it, so the next
// primary lock starts a new one (client-go committer.reset, used when a
// pessimistic transaction's first lock fails or its primary changes).
func (c *committer) resetTTLManager() {
	c.mu.Lock()
	m := c.ttl
	c.ttl = nil
	c.mu.Unlock()
	if m != nil {
		m.close()
	}
}
