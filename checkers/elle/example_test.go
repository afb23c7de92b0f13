package elle_test

import (
	"fmt"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/elle"
)

// A read skew: T1 sees T2's append to y but not its append to x.
func ExampleCheck() {
	txn := func(i, t int64, p int, ty checkers.Type, mops ...checkers.Mop) checkers.Op {
		return checkers.Op{Index: i, Time: t, Process: p, Type: ty, F: checkers.FTxn, Value: mops}
	}
	h := checkers.History{
		txn(0, 0, 0, checkers.Invoke, checkers.Read("x", nil), checkers.Read("y", nil)),
		txn(1, 0, 1, checkers.Invoke, checkers.Append("x", 1), checkers.Append("y", 1)),
		txn(2, 10, 0, checkers.OK, checkers.Read("x", []int64{}), checkers.Read("y", []int64{1})),
		txn(3, 10, 1, checkers.OK, checkers.Append("x", 1), checkers.Append("y", 1)),
	}
	r := elle.Check(h, elle.Options{Model: elle.SnapshotIsolation})
	fmt.Println(r.Verdict, r.Kinds())
	for _, s := range r.Anomalies[0].Cycle {
		fmt.Println(s.Kind+":", s.Why)
	}
	// Output:
	// illegal [G-single]
	// rw: T1 < T2 because T1 read "x" = [], which does not include T2's append of 1 (no read saw it, so it follows every observed append)
	// wr: T2 < T1 because T1 read T2's append of 1 to "y"
}
