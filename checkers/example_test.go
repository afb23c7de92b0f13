package checkers_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/tikvsim/tikvsim/checkers"
)

// Reading a recorded history and pairing its entries.
func ExampleReadJSONL() {
	in := `{"index":0,"time":1200,"process":3,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]]}
{"index":1,"time":1950,"process":3,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[1,2]]]}`
	h, err := checkers.ReadJSONL(strings.NewReader(in))
	if err != nil {
		panic(err)
	}
	pairs, _ := h.Pairs()
	fmt.Println(len(h), "entries,", len(pairs), "operation:", pairs[0].Complete)
	// Output: 2 entries, 1 operation: #1 p3 ok txn [["append","x",1],["r","y",[1,2]]]
}

// Recording a history in Go and writing it out.
func ExampleWriteJSONL() {
	h := checkers.History{
		{Index: 0, Time: 10, Process: 0, Type: checkers.Invoke, F: checkers.FWrite, Key: "x", Value: int64(1)},
		{Index: 1, Time: 25, Process: 0, Type: checkers.OK, F: checkers.FWrite, Key: "x", Value: int64(1)},
	}
	if err := checkers.WriteJSONL(os.Stdout, h); err != nil {
		panic(err)
	}
	// Output:
	// {"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"x","value":1}
	// {"index":1,"time":25,"process":0,"type":"ok","f":"write","key":"x","value":1}
}
