package transport

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClassification(t *testing.T) {
	cases := []struct {
		err     error
		notSent bool
	}{
		{&SendError{Addr: "s1", NotSent: true, Err: errors.New("refused")}, true},
		{&SendError{Addr: "s1", Err: context.DeadlineExceeded}, false},
		{fmt.Errorf("wrapped: %w", &SendError{Addr: "s1", NotSent: true, Err: ErrClosed}), true},
		{errors.New("plain"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := IsNotSent(c.err); got != c.notSent {
			t.Errorf("IsNotSent(%v) = %v, want %v", c.err, got, c.notSent)
		}
	}
	e := &SendError{Addr: "s1", Err: context.DeadlineExceeded}
	if !errors.Is(e, context.DeadlineExceeded) || e.Error() != "send to s1 failed (outcome undetermined): context deadline exceeded" {
		t.Errorf("SendError: %v", e)
	}
}
