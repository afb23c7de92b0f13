package invariant_test

import (
	"fmt"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/invariant"
)

func ExampleBank() {
	h := checkers.History{
		{Index: 0, Time: 0, Process: 0, Type: checkers.Invoke, F: checkers.FRead},
		{Index: 1, Time: 9, Process: 0, Type: checkers.OK, F: checkers.FRead, Value: map[string]any{"a": int64(70), "b": int64(20)}},
	}
	r := invariant.Bank(h, invariant.BankOptions{Total: 100})
	fmt.Println(r)
	// Output:
	// illegal
	// wrong-total: #1 read {"a":70,"b":20}, which sums to 90, want 100
}
