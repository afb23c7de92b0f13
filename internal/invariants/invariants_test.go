package invariants

import (
	"errors"
	"testing"
)

func TestAssert(t *testing.T) {
	Assert(true, "never")
	func() {
		defer func() {
			r := recover()
			if !Enabled {
				if r != nil {
					t.Fatalf("assert fired with invariants off: %v", r)
				}
				return
			}
			var e *Error
			if err, ok := r.(error); !ok || !errors.As(err, &e) || e.Msg != "x=3" {
				t.Fatalf("got %v, want invariant error x=3", r)
			}
		}()
		Assert(false, "x=%d", 3)
	}()
}

func TestFail(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("Fail did not panic")
		}
	}()
	Fail("boom")
}
