package rt_test

import (
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/rt/rttest"
)

func TestRealConformance(t *testing.T) {
	rttest.Suite(t, rttest.Harness{
		Short: 5 * time.Millisecond,
		Run:   func(t *testing.T, body func(rt.Runtime)) { body(rt.Real) },
	})
}
