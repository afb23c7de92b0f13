package pd

import (
	"github.com/golang/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/encryptionpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// Every message handed out is a fresh copy, so callers may keep or mutate it
// and no request is ever retained by reference.

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func clonePeer(p *metapb.Peer) *metapb.Peer {
	if p == nil {
		return nil
	}
	return &metapb.Peer{Id: p.GetId(), StoreId: p.GetStoreId(), Role: p.GetRole(), IsWitness: p.GetIsWitness()}
}

func clonePeers(ps []*metapb.Peer) []*metapb.Peer {
	if ps == nil {
		return nil
	}
	out := make([]*metapb.Peer, len(ps))
	for i, p := range ps {
		out[i] = clonePeer(p)
	}
	return out
}

func clonePeerStats(ps []*pdpb.PeerStats) []*pdpb.PeerStats {
	if ps == nil {
		return nil
	}
	out := make([]*pdpb.PeerStats, len(ps))
	for i, p := range ps {
		out[i] = &pdpb.PeerStats{Peer: clonePeer(p.GetPeer()), DownSeconds: p.GetDownSeconds()}
	}
	return out
}

func cloneEpoch(e *metapb.RegionEpoch) *metapb.RegionEpoch {
	if e == nil {
		return nil
	}
	return &metapb.RegionEpoch{ConfVer: e.GetConfVer(), Version: e.GetVersion()}
}

func cloneRegion(r *metapb.Region) *metapb.Region {
	if r == nil {
		return nil
	}
	out := &metapb.Region{
		Id:               r.GetId(),
		StartKey:         cloneBytes(r.GetStartKey()),
		EndKey:           cloneBytes(r.GetEndKey()),
		RegionEpoch:      cloneEpoch(r.GetRegionEpoch()),
		Peers:            clonePeers(r.GetPeers()),
		IsInFlashback:    r.GetIsInFlashback(),
		FlashbackStartTs: r.GetFlashbackStartTs(),
	}
	if m := r.GetEncryptionMeta(); m != nil {
		out.EncryptionMeta = proto.Clone(m).(*encryptionpb.EncryptionMeta)
	}
	return out
}

func cloneStore(s *metapb.Store) *metapb.Store {
	if s == nil {
		return nil
	}
	out := *s
	out.Labels = nil
	for _, l := range s.GetLabels() {
		out.Labels = append(out.Labels, &metapb.StoreLabel{Key: l.GetKey(), Value: l.GetValue()})
	}
	return &out
}

func cloneStats(s *pdpb.StoreStats) *pdpb.StoreStats {
	if s == nil {
		return nil
	}
	return proto.Clone(s).(*pdpb.StoreStats)
}

func cloneBuckets(b *metapb.Buckets) *metapb.Buckets {
	if b == nil {
		return nil
	}
	return proto.Clone(b).(*metapb.Buckets)
}

func cloneMember(m *pdpb.Member) *pdpb.Member {
	if m == nil {
		return nil
	}
	return &pdpb.Member{
		Name:          m.GetName(),
		MemberId:      m.GetMemberId(),
		PeerUrls:      append([]string{}, m.GetPeerUrls()...),
		ClientUrls:    append([]string{}, m.GetClientUrls()...),
		BinaryVersion: m.GetBinaryVersion(),
	}
}
