package harness

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/workloads"
)

// keyspaceName is the keyspace an API V2 run's clients work in.
const keyspaceName = "sim"

// keyspace is the API V2 setup of a run (Spec.APIVersion "v2"): the cluster
// runs in API V2 mode; before the workload's setup the harness creates a
// keyspace in PD (raw-mode region bounds for a raw workload, transactional
// otherwise), waits until PD has split its boundaries and LoadKeyspace
// answers over the simulated network, and splits it at the user key "reg2"
// as a V1 run's cluster starts split. Every client is built in that
// keyspace from the loaded meta (loaded once, before any fault, so that a
// client created under a partition still starts), and topology actions
// address user keys of the keyspace.
type keyspace struct {
	raw  bool
	meta *keyspacepb.KeyspaceMeta
}

// config turns a V1 cluster config into the V2 one: the initial split waits
// for the keyspace (create).
func (k *keyspace) config(cfg cluster.Config) cluster.Config {
	cfg.APIVersion = kvrpcpb.APIVersion_V2
	cfg.SplitKeys = [][]byte{}
	cfg.TxnKeys = false
	return cfg
}

// create makes the keyspace and waits until it can be loaded.
func (k *keyspace) create(ctx context.Context, w *sim.World, clu *cluster.Cluster) error {
	if _, err := clu.CreateKeyspace(keyspaceName, k.raw); err != nil {
		return err
	}
	p := clu.NewPDClient("keyspace-loader")
	var err error
	for range 600 {
		if k.meta, err = p.LoadKeyspace(ctx, keyspaceName); err == nil {
			return clu.Split(append(k.prefix(), "reg2"...))
		}
		_ = w.Sleep(ctx, 100*time.Millisecond)
	}
	return fmt.Errorf("keyspace %s not loadable after 60s: %w", keyspaceName, err)
}

// prefix is the keyspace's key prefix in the workload's mode.
func (k *keyspace) prefix() []byte { return cluster.KeyspacePrefix(k.meta.GetId(), k.raw) }

func (k *keyspace) describe() string {
	return fmt.Sprintf("api v2: keyspace %s (id %d)", keyspaceName, k.meta.GetId())
}

// clients replaces env's client constructors with API V2 ones in the
// keyspace.
func (k *keyspace) clients(env *workloads.Env, clu *cluster.Cluster, r rt.Runtime) {
	env.TxnKV = func(name string) (*txnkv.Client, error) {
		return txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(clu.NewTransport(name)), txnkv.WithPD(clu.NewPDClient(name)),
			txnkv.WithAPIVersion(kvrpcpb.APIVersion_V2), txnkv.WithKeyspaceMeta(k.meta))
	}
	env.RawKV = func(name string) (*rawkv.Client, error) {
		return rawkv.NewClient(rawkv.WithRuntime(r), rawkv.WithTransport(clu.NewTransport(name)), rawkv.WithPD(clu.NewPDClient(name)),
			rawkv.WithTimeout(time.Second), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspaceMeta(k.meta))
	}
}

// prefixAction returns a with its key prefixed (nil prefix: a itself).
func prefixAction(a cluster.Action, prefix []byte) cluster.Action {
	if prefix == nil {
		return a
	}
	p := func(key []byte) []byte { return append(bytes.Clone(prefix), key...) }
	switch a := a.(type) {
	case cluster.SplitAction:
		return cluster.SplitAction{Key: p(a.Key)}
	case cluster.MergeAction:
		return cluster.MergeAction{Key: p(a.Key)}
	case cluster.TransferAction:
		return cluster.TransferAction{Key: p(a.Key), Store: a.Store}
	}
	return a
}

// userLocks returns the locks of the keyspace with prefix (all of them for
// nil) with their keys in user form, as a client of the keyspace sees them.
func userLocks(infos []*kvrpcpb.LockInfo, prefix []byte) []*kvrpcpb.LockInfo {
	if prefix == nil {
		return infos
	}
	strip := func(k []byte) []byte { return bytes.TrimPrefix(k, prefix) }
	var out []*kvrpcpb.LockInfo
	for _, l := range infos {
		if !bytes.HasPrefix(l.Key, prefix) {
			continue
		}
		u := proto.Clone(l).(*kvrpcpb.LockInfo)
		u.Key, u.PrimaryLock = strip(u.Key), strip(u.PrimaryLock)
		for i, s := range u.Secondaries {
			u.Secondaries[i] = strip(s)
		}
		out = append(out, u)
	}
	return out
}
