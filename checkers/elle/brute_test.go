package elle

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
	"pgregory.net/rapid"
)

// serialOK reports by brute force whether some serial order of the
// committed transactions (plus any subset of the crashed ones) reproduces
// every read, optionally respecting real time. Only for tiny histories.
func serialOK(t *rapid.T, h checkers.History, realtime bool) bool {
	pairs, err := h.Pairs()
	if err != nil {
		t.Fatal(err)
	}
	var must, may []checkers.Pair
	for _, p := range pairs {
		switch p.Complete.Type {
		case checkers.OK:
			must = append(must, p)
		case checkers.Info:
			may = append(may, p)
		}
	}
	for mask := 0; mask < 1<<len(may); mask++ {
		set := slices.Clone(must)
		for i, p := range may {
			if mask&(1<<i) != 0 {
				set = append(set, p)
			}
		}
		if permuteOK(set, 0, realtime) {
			return true
		}
	}
	return false
}

// permuteOK tries every order of set[k:] after the fixed prefix set[:k].
func permuteOK(set []checkers.Pair, k int, realtime bool) bool {
	if k == len(set) {
		return replay(set)
	}
	for i := k; i < len(set); i++ {
		set[k], set[i] = set[i], set[k]
		ok := true
		if realtime {
			// set[k] must not follow anything that started after it ended.
			for j := 0; j < k && ok; j++ {
				if set[k].Complete.Type == checkers.OK && set[k].Complete.Time < set[j].Invoke.Time {
					ok = false
				}
			}
		}
		if ok && permuteOK(set, k+1, realtime) {
			set[k], set[i] = set[i], set[k]
			return true
		}
		set[k], set[i] = set[i], set[k]
	}
	return false
}

// replay runs the transactions in order and checks every ok read.
func replay(order []checkers.Pair) bool {
	lists := map[string][]int64{}
	regs := map[string]int64{}
	for _, p := range order {
		src := p.Invoke
		if p.Complete.Type == checkers.OK {
			src = p.Complete
		}
		for _, m := range src.Value.([]checkers.Mop) {
			switch m.F {
			case checkers.MopAppend:
				lists[m.Key] = append(slices.Clone(lists[m.Key]), m.Value.(int64))
			case checkers.MopWrite:
				regs[m.Key] = m.Value.(int64)
			case checkers.MopRead:
				if p.Complete.Type != checkers.OK {
					continue
				}
				switch v := m.Value.(type) {
				case []int64:
					if !slices.Equal(v, lists[m.Key]) {
						return false
					}
				case int64:
					if cur, ok := regs[m.Key]; !ok || cur != v {
						return false
					}
				case nil:
					if _, ok := regs[m.Key]; ok || len(lists[m.Key]) > 0 {
						return false
					}
				}
			}
		}
	}
	return true
}

// mutate replaces one ok read with a plausible wrong value.
func mutate(t *rapid.T, h checkers.History, registers bool) {
	written := map[string][]int64{}
	var reads [][2]int
	for i, op := range h {
		mops, _ := op.Value.([]checkers.Mop)
		for j, m := range mops {
			if op.Type == checkers.Invoke && m.F != checkers.MopRead {
				written[m.Key] = append(written[m.Key], m.Value.(int64))
			}
			if op.Type == checkers.OK && m.F == checkers.MopRead {
				reads = append(reads, [2]int{i, j})
			}
		}
	}
	if len(reads) == 0 {
		return
	}
	r := rapid.SampledFrom(reads).Draw(t, "read")
	mops := slices.Clone(h[r[0]].Value.([]checkers.Mop))
	m := &mops[r[1]]
	vals := written[m.Key]
	if registers {
		if len(vals) == 0 || rapid.IntRange(0, 3).Draw(t, "nil") == 0 {
			m.Value = nil
		} else {
			m.Value = rapid.SampledFrom(vals).Draw(t, "v")
		}
	} else {
		l := []int64{}
		for _, v := range vals {
			if rapid.Bool().Draw(t, "keep") {
				l = append(l, v)
			}
		}
		if len(l) > 1 && rapid.Bool().Draw(t, "swap") {
			l[0], l[1] = l[1], l[0]
		}
		m.Value = l
	}
	h[r[0]].Value = mops
}

// TestAgainstBruteForce compares verdicts with an exhaustive search for a
// serial order on tiny, randomly corrupted histories. Whatever the checker
// calls illegal under (strict) serializability must have no (real-time
// respecting) serial order, and a history with none should be flagged.
func TestAgainstBruteForce(t *testing.T) {
	missed := 0
	var examples []string
	rapid.Check(t, func(rt *rapid.T) {
		reg := rapid.Bool().Draw(rt, "registers")
		h := genHistory(rapid.Uint64().Draw(rt, "seed"), genConfig{
			txns: rapid.IntRange(1, 6).Draw(rt, "txns"), procs: 3, keys: 2, perKey: 100,
			maxMops: 3, pInfo: 0.15, pFail: 0.1, registers: reg,
		})
		if rapid.Bool().Draw(rt, "corrupt") {
			mutate(rt, h, reg)
		}
		for _, m := range []Model{Serializable, StrictSerializable} {
			r := Check(h, Options{Model: m})
			truth := serialOK(rt, h, m == StrictSerializable)
			if r.Verdict == checkers.Illegal && truth {
				rt.Fatalf("%s: checker says illegal, but a serial order exists:\n%s\n%v", m, r, h)
			}
			if r.Verdict == checkers.Unknown {
				rt.Fatalf("%s: unknown: %s", m, r.Reason)
			}
			if r.Verdict == checkers.Ok && !truth && !reg {
				missed++
				if len(examples) < 3 {
					var b strings.Builder
					for _, op := range h {
						b.WriteString(op.String() + fmt.Sprintf(" t=%d\n", op.Time))
					}
					examples = append(examples, string(m)+"\n"+b.String())
				}
			}
		}
	})
	t.Logf("list-append histories with no serial order that the checker passed: %d", missed)
	for _, e := range examples {
		t.Log(e)
	}
}
