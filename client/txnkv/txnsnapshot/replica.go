package txnsnapshot

import (
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// ReplicaReadAdjuster picks, for a request reading keys keys, the replica
// read kind and a replica preference (client-go
// txnsnapshot.ReplicaReadAdjuster, used by TiDB to send small reads to the
// closest replica). A nil option leaves the preference alone.
type ReplicaReadAdjuster func(keys int) (sender.ReadOption, kv.ReplicaReadType)

// SetReplicaRead sets which replicas serve this snapshot's reads
// (client-go KVSnapshot.SetReplicaRead). A follower serving a replica read
// first asks the leader for a read index, so the read stays linearizable.
func (s *KVSnapshot) SetReplicaRead(t kv.ReplicaReadType) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replicaRead = t
}

// SetMatchStoreLabels prefers replicas on stores carrying all of labels,
// e.g. the reader's zone (client-go KVSnapshot.SetMatchStoreLabels).
func (s *KVSnapshot) SetMatchStoreLabels(labels []*metapb.StoreLabel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labels = labels
}

// SetReplicaReadAdjuster sets the adjuster consulted for every request
// (client-go KVSnapshot.SetReplicaReadAdjuster); nil removes it.
func (s *KVSnapshot) SetReplicaReadAdjuster(f ReplicaReadAdjuster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adjuster = f
}

// SetIsStalenessReadOnly makes the snapshot a stale read (client-go
// KVSnapshot.SetIsStalenessReadOnly): any replica whose safe ts has reached
// the snapshot's ts serves it locally, the others answer DataIsNotReady and
// the read moves to the leader. The snapshot's ts must not be in the future
// (the sender checks it with the oracle's ValidateReadTS). Once a stale
// read meets a lock, the snapshot reads from the leader (client-go
// DisableStaleReadMeetLock).
func (s *KVSnapshot) SetIsStalenessReadOnly(b bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = b
}

// SetLoadBasedReplicaReadThreshold makes leader reads go to an idle
// follower (as replica reads) when the leader is expected to queue them
// longer than d, as TiKV's ServerIsBusy answers estimate (client-go
// KVSnapshot.SetLoadBasedReplicaReadThreshold, Context.busy_threshold_ms);
// 0 turns it off.
func (s *KVSnapshot) SetLoadBasedReplicaReadThreshold(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busyThreshold = d
}

// IsStalenessReadOnly reports whether the snapshot is a stale read.
func (s *KVSnapshot) IsStalenessReadOnly() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

// newRequest builds a read of keys keys with the snapshot's context and
// replica settings.
func (s *KVSnapshot) newRequest(typ tikvrpc.CmdType, body any, keys int) *tikvrpc.Request {
	req := tikvrpc.NewRequest(typ, body, s.context())
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.replicaRead
	if s.adjuster != nil {
		_, t = s.adjuster(keys)
	}
	switch {
	case s.stale && !s.metLock:
		req.EnableStaleWithMixedReplicaRead()
	case s.stale:
		req.SetReplicaReadType(kv.ReplicaReadLeader)
	default:
		req.SetReplicaReadType(t)
		if t == kv.ReplicaReadLeader && s.busyThreshold > 0 {
			req.BusyThresholdMs = uint32(s.busyThreshold / time.Millisecond)
		}
	}
	return req
}

// readOptions returns the replica preferences of a read of keys keys.
func (s *KVSnapshot) readOptions(keys int) []sender.ReadOption {
	s.mu.Lock()
	defer s.mu.Unlock()
	var opts []sender.ReadOption
	if len(s.labels) > 0 {
		opts = append(opts, sender.WithMatchLabels(s.labels))
	}
	if s.adjuster != nil {
		if o, _ := s.adjuster(keys); o != nil {
			opts = append(opts, o)
		}
	}
	return opts
}

// onLock records that a read met a lock: a stale snapshot reads from the
// leader from now on.
func (s *KVSnapshot) onLock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale {
		s.metLock = true
	}
}
