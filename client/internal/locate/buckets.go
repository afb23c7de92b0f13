package locate

import (
	"bytes"
	"sort"
)

// Bucket is a key range inside a region, used to split large scans.
type Bucket struct {
	StartKey []byte
	EndKey   []byte
}

// Contains reports whether key is in the bucket.
func (b *Bucket) Contains(key []byte) bool { return contains(b.StartKey, b.EndKey, key) }

// LocateBucket returns the bucket of the location holding key, clamped to
// the location's range since buckets may be stale (client-go LocateBucket
// and clampBucketToRegion). Keys before the first bucket key or after the
// last one fall into a bucket made from the region's own bounds. It returns
// nil when key is outside the location.
func (l *KeyLocation) LocateBucket(key []byte) *Bucket {
	if b := l.locateBucket(key); b != nil {
		return l.clamp(b)
	}
	if !l.Contains(key) {
		return nil
	}
	keys := l.Buckets.GetKeys()
	if len(keys) == 0 {
		return &Bucket{l.StartKey, l.EndKey}
	}
	if bytes.Compare(key, keys[0]) < 0 {
		return l.clamp(&Bucket{l.StartKey, keys[0]})
	}
	return l.clamp(&Bucket{keys[len(keys)-1], l.EndKey})
}

// locateBucket finds key among the bucket keys, nil when it is outside them.
func (l *KeyLocation) locateBucket(key []byte) *Bucket {
	keys := l.Buckets.GetKeys()
	n := len(keys) - 1
	if n < 1 {
		return nil
	}
	i := sort.Search(n, func(i int) bool { return bytes.Compare(key, keys[i]) < 0 })
	if i == 0 || (i == n && len(keys[n]) != 0 && bytes.Compare(key, keys[n]) >= 0) {
		return nil
	}
	return &Bucket{keys[i-1], keys[i]}
}

// clamp cuts b to the location's range; a bucket that ends up empty becomes
// the whole region.
func (l *KeyLocation) clamp(b *Bucket) *Bucket {
	start, end := b.StartKey, b.EndKey
	if bytes.Compare(start, l.StartKey) < 0 {
		start = l.StartKey
	}
	if len(l.EndKey) > 0 && (len(end) == 0 || bytes.Compare(end, l.EndKey) > 0) {
		end = l.EndKey
	}
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		start, end = l.StartKey, l.EndKey
	}
	if bytes.Equal(start, b.StartKey) && bytes.Equal(end, b.EndKey) {
		return b
	}
	return &Bucket{start, end}
}
