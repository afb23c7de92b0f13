package kv

import "github.com/tikvsim/tikvsim/client/tikvrpc"

// ReplicaReadType says which replicas may serve a read (client-go
// kv.ReplicaReadType): the leader, followers, any replica, learners, or the
// leader first. See txnsnapshot.KVSnapshot.SetReplicaRead.
type ReplicaReadType = tikvrpc.ReplicaReadType

// The replica read kinds (client-go kv/store_vars.go).
const (
	// ReplicaReadLeader reads from the leader.
	ReplicaReadLeader = tikvrpc.ReplicaReadLeader
	// ReplicaReadFollower reads from a follower, the leader when no
	// follower can serve.
	ReplicaReadFollower = tikvrpc.ReplicaReadFollower
	// ReplicaReadMixed reads from the leader, followers or learners.
	ReplicaReadMixed = tikvrpc.ReplicaReadMixed
	// ReplicaReadLearner reads from a learner first.
	ReplicaReadLearner = tikvrpc.ReplicaReadLearner
	// ReplicaReadPreferLeader reads from the leader and turns to followers
	// when the leader cannot serve.
	ReplicaReadPreferLeader = tikvrpc.ReplicaReadPreferLeader
)
