package pd

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// Keyspace metadata follows tikv/pd pkg/keyspace/keyspace.go and
// server/keyspace_service.go.
const (
	// DefaultKeyspaceName is the keyspace PD creates when it bootstraps.
	DefaultKeyspaceName = "DEFAULT"
	// DefaultKeyspaceID is its id.
	DefaultKeyspaceID = uint32(0)

	gcManagementTypeKey = "gc_management_type"
	keyspaceLevelGC     = "keyspace_level"
	regionBoundTypeKey  = "region_bound_type"

	errKeyspaceNotFound = "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist"
	errKeyspaceExists   = "[PD:keyspace:ErrKeyspaceExists]keyspace already exists"
)

type keyspaces struct {
	byID   map[uint32]*keyspacepb.KeyspaceMeta
	byName map[string]uint32
	nextID uint32
}

func newKeyspaces() *keyspaces {
	return &keyspaces{byID: map[uint32]*keyspacepb.KeyspaceMeta{}, byName: map[string]uint32{}, nextID: 1}
}

func (k *keyspaces) sortedIDs() []uint32 { return sortedKeys32(k.byID) }

func sortedKeys32[V any](m map[uint32]V) []uint32 {
	out := make([]uint32, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func keyspaceEnabled(m *keyspacepb.KeyspaceMeta) bool {
	return m.GetState() == keyspacepb.KeyspaceState_ENABLED
}

func cloneKeyspace(m *keyspacepb.KeyspaceMeta) *keyspacepb.KeyspaceMeta {
	out := &keyspacepb.KeyspaceMeta{
		Keyspace:       &keyspacepb.KeyspaceMeta_Id{Id: m.GetId()},
		Name:           m.GetName(),
		State:          m.GetState(),
		CreatedAt:      m.GetCreatedAt(),
		StateChangedAt: m.GetStateChangedAt(),
		Config:         map[string]string{},
	}
	for k, v := range m.GetConfig() {
		out.Config[k] = v
	}
	return out
}

// KeyspaceBounds returns the memcomparable-encoded region boundaries of
// keyspace id for the txn ('x') or raw ('r') key mode
// (pkg/codec EncodeKeyspaceBoundary): [left, right).
func KeyspaceBounds(id uint32, raw bool) (left, right []byte) {
	mode := byte('x')
	if raw {
		mode = 'r'
	}
	enc := func(mode byte, id uint32) []byte {
		if id >= 1<<24 {
			mode, id = mode+1, 0
		}
		return []byte{mode, byte(id >> 16), byte(id >> 8), byte(id), 0, 0, 0, 0, 0xFF - 4}
	}
	return enc(mode, id), enc(mode, id+1)
}

func keyspaceBoundKeys(m *keyspacepb.KeyspaceMeta) [][]byte {
	l, r := KeyspaceBounds(m.GetId(), m.GetConfig()[regionBoundTypeKey] == "raw")
	return [][]byte{l, r}
}

func (p *PD) createKeyspaceLocked(now time.Time, id uint32, name string, config map[string]string) *keyspacepb.KeyspaceMeta {
	cfg := map[string]string{"tso_keyspace_group_id": "0", "user_kind": "basic", regionBoundTypeKey: "txn"}
	for _, k := range sortedStrings(config) {
		cfg[k] = config[k]
	}
	m := &keyspacepb.KeyspaceMeta{
		Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: id}, Name: name,
		State: keyspacepb.KeyspaceState_ENABLED, CreatedAt: now.Unix(), StateChangedAt: now.Unix(), Config: cfg,
	}
	p.st.keyspaces.byID[id] = m
	p.st.keyspaces.byName[name] = id
	p.keyspaceSplitLocked(now)
	return m
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bootstrapKeyspacesLocked is keyspace Manager.Bootstrap: the DEFAULT keyspace.
func (p *PD) bootstrapKeyspacesLocked(now time.Time) {
	if _, ok := p.st.keyspaces.byName[DefaultKeyspaceName]; !ok {
		p.createKeyspaceLocked(now, DefaultKeyspaceID, DefaultKeyspaceName, nil)
	}
}

var keyspaceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// CreateKeyspace creates an ENABLED keyspace (PD's admin API, not an RPC of
// the client). config entries override the defaults; set
// "gc_management_type": "keyspace_level" for keyspace-level GC and
// "region_bound_type": "raw" for raw-mode boundaries. The cluster must be
// bootstrapped.
func (p *PD) CreateKeyspace(now time.Time, name string, config map[string]string) (*keyspacepb.KeyspaceMeta, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.st.bootstrapped:
		return nil, fmt.Errorf("cluster is not bootstrapped")
	case !keyspaceNameRE.MatchString(name):
		return nil, fmt.Errorf("[PD:keyspace:ErrKeyspaceName]illegal keyspace name %q", name)
	}
	if _, ok := p.st.keyspaces.byName[name]; ok {
		return nil, fmt.Errorf("%s", errKeyspaceExists)
	}
	id := p.st.keyspaces.nextID
	for p.st.keyspaces.byID[id] != nil {
		id++
	}
	p.st.keyspaces.nextID = id + 1
	return cloneKeyspace(p.createKeyspaceLocked(now, id, name, config)), nil
}

// SetKeyspaceState changes a keyspace's state (ENABLED, DISABLED, ARCHIVED,
// TOMBSTONE) at now.
func (p *PD) SetKeyspaceState(now time.Time, name string, state keyspacepb.KeyspaceState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.st.keyspaces.byName[name]
	if !ok {
		return fmt.Errorf("%s", errKeyspaceNotFound)
	}
	m := p.st.keyspaces.byID[id]
	m.State, m.StateChangedAt = state, now.Unix()
	return nil
}

// hasBoundLocked is checkBound: key must be a region's start key.
func (p *PD) hasBoundLocked(key []byte) bool {
	r := p.st.regions.search(key)
	return r != nil && bytes.Equal(r.startKey(), key)
}

// keyspaceSplitLocked is the labeler's split checker: ask for splits at the
// keyspace boundaries not yet split, one operator per region at a time.
func (p *PD) keyspaceSplitLocked(now time.Time) {
	if p.cfg.NoKeyspaceRegionSplit || p.leader < 0 {
		return
	}
	byRegion := map[uint64][][]byte{}
	regions := map[uint64]*regionInfo{}
	for _, id := range p.st.keyspaces.sortedIDs() {
		for _, k := range keyspaceBoundKeys(p.st.keyspaces.byID[id]) {
			r := p.st.regions.search(k)
			if r == nil || r.leader == nil || bytes.Equal(r.startKey(), k) || p.ops.running[r.id()] != nil {
				continue
			}
			dup := false
			for _, o := range byRegion[r.id()] {
				dup = dup || bytes.Equal(o, k)
			}
			if !dup {
				byRegion[r.id()] = append(byRegion[r.id()], k)
				regions[r.id()] = r
			}
		}
	}
	for _, id := range sortedKeys(byRegion) {
		p.newSplitOpLocked(now, regions[id], byRegion[id], "labeler-split-region")
	}
}

// LoadKeyspace implements the Keyspace service RPC: ENTRY_NOT_FOUND when
// the name is unknown or (unless Config.NoKeyspaceRegionSplit) its region
// boundaries are not split yet.
func (p *PD) LoadKeyspace(_ time.Time, req *keyspacepb.LoadKeyspaceRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	notFound := &keyspacepb.LoadKeyspaceResponse{Header: p.errHeader(pdpb.ErrorType_ENTRY_NOT_FOUND, errKeyspaceNotFound)}
	id, ok := p.st.keyspaces.byName[req.GetName()]
	if !ok {
		return notFound, nil
	}
	m := p.st.keyspaces.byID[id]
	if !p.cfg.NoKeyspaceRegionSplit {
		for _, k := range keyspaceBoundKeys(m) {
			if !p.hasBoundLocked(k) {
				return notFound, nil
			}
		}
	}
	return &keyspacepb.LoadKeyspaceResponse{Header: p.okHeader(), Keyspace: cloneKeyspace(m)}, nil
}
