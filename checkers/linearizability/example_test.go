package linearizability_test

import (
	"fmt"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/linearizability"
)

// A write whose outcome is unknown may take effect late: the second read
// may see it, but the third may not go back.
func ExampleCheck() {
	op := func(i, t int64, p int, ty checkers.Type, f string, v any) checkers.Op {
		return checkers.Op{Index: i, Time: t, Process: p, Type: ty, F: f, Key: "x", Value: v}
	}
	h := checkers.History{
		op(0, 0, 0, checkers.Invoke, checkers.FWrite, int64(1)),
		op(1, 5, 0, checkers.Info, checkers.FWrite, int64(1)),
		op(2, 10, 1, checkers.Invoke, checkers.FRead, nil),
		op(3, 15, 1, checkers.OK, checkers.FRead, nil),
		op(4, 20, 1, checkers.Invoke, checkers.FRead, nil),
		op(5, 25, 1, checkers.OK, checkers.FRead, int64(1)),
	}
	fmt.Println(linearizability.Check(h, linearizability.Options{}).Verdict)
	h = append(h,
		op(6, 30, 1, checkers.Invoke, checkers.FRead, nil),
		op(7, 35, 1, checkers.OK, checkers.FRead, nil))
	r := linearizability.Check(h, linearizability.Options{})
	fmt.Println(r.Verdict, len(r.Anomalies[0].Ops), "ops")
	// Output:
	// ok
	// illegal 3 ops
}
