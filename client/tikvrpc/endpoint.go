package tikvrpc

import "github.com/pingcap/kvproto/pkg/metapb"

// EndpointType is the kind of store a request goes to.
type EndpointType uint8

// The endpoint kinds (client-go tikvrpc/endpoint.go).
const (
	TiKV EndpointType = iota
	TiFlash
	TiDB
	TiFlashCompute
)

// Name returns "tikv", "tiflash", "tidb", "tiflash_compute" or "unspecified".
func (t EndpointType) Name() string {
	switch t {
	case TiKV:
		return "tikv"
	case TiFlash:
		return "tiflash"
	case TiDB:
		return "tidb"
	case TiFlashCompute:
		return "tiflash_compute"
	}
	return "unspecified"
}

// IsTiFlashRelatedType reports whether t is TiFlash or TiFlashCompute.
func (t EndpointType) IsTiFlashRelatedType() bool { return t == TiFlash || t == TiFlashCompute }

// Store labels that tell the engine of a store, as PD sets them.
const (
	EngineLabelKey            = "engine"
	EngineLabelTiFlash        = "tiflash"
	EngineLabelTiFlashCompute = "tiflash_compute"
	EngineRoleLabelKey        = "engine_role"
	EngineRoleWrite           = "write"
)

// GetStoreTypeByMeta returns the endpoint kind of a store from its labels.
func GetStoreTypeByMeta(store *metapb.Store) EndpointType {
	for _, l := range store.GetLabels() {
		if l.Key != EngineLabelKey {
			continue
		}
		switch l.Value {
		case EngineLabelTiFlash:
			return TiFlash
		case EngineLabelTiFlashCompute:
			return TiFlashCompute
		}
	}
	return TiKV
}
