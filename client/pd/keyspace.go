package pd

import (
	"context"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
)

// KeyspaceLoader is the optional capability of a PD edge that the raw and
// transactional clients' NewClientWithOpts use to load an API V2 keyspace
// (PD's LoadKeyspace). A PD edge without it needs WithKeyspaceMeta instead.
type KeyspaceLoader interface {
	// LoadKeyspace returns the meta of the keyspace called name, or an
	// error when PD does not know it (or has not split its regions yet).
	LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error)
}
