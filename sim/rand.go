package sim

import (
	"hash/fnv"
	"math/rand/v2"
)

// DeriveSeed returns the seed of the subsystem called name in the seed tree
// rooted at seed. Derivation is by name, not by call order, so adding a
// subsystem never shifts the streams of the others.
func DeriveSeed(seed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return splitmix64(seed ^ splitmix64(h.Sum64()))
}

// NewRand returns a PRNG seeded with DeriveSeed(seed, name).
func NewRand(seed uint64, name string) *rand.Rand {
	s := DeriveSeed(seed, name)
	return rand.New(rand.NewPCG(s, splitmix64(s)))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
