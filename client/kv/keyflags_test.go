package kv

import "testing"

func TestApplyFlagsOps(t *testing.T) {
	var f KeyFlags
	f = ApplyFlagsOps(f, SetPresumeKeyNotExists)
	if !f.HasPresumeKeyNotExists() || !f.HasNeedCheckExists() {
		t.Fatalf("presume: %b", f)
	}
	f = ApplyFlagsOps(f, DelNeedCheckExists)
	if f.HasNeedCheckExists() || !f.HasPresumeKeyNotExists() {
		t.Fatalf("del need check: %b", f)
	}
	f = ApplyFlagsOps(f, DelPresumeKeyNotExists, SetPreviousPresumeKNE)
	if !f.HasPresumeKeyNotExists() {
		t.Fatal("previous presume counts as presume")
	}
	f = ApplyFlagsOps(0, SetKeyLocked, SetKeyLockedInShareMode, SetNeedLocked, SetNeedConstraintCheckInPrewrite)
	if !f.HasLocked() || !f.HasLockedInShareMode() || !f.HasNeedLocked() || !f.HasNeedConstraintCheckInPrewrite() {
		t.Fatalf("locks: %b", f)
	}
	if f.AndPersistent() != f&^flagNeedLocked {
		t.Fatalf("persistent: %b", f.AndPersistent())
	}
	f = ApplyFlagsOps(f, SetKeyLockedValueExists)
	if !f.HasLockedValueExists() || f.HasNeedConstraintCheckInPrewrite() {
		t.Fatalf("locked value exists: %b", f)
	}
	f = ApplyFlagsOps(f, SetNeedConstraintCheckInPrewrite, SetKeyLockedValueNotExists)
	if f.HasLockedValueExists() || f.HasNeedConstraintCheckInPrewrite() {
		t.Fatalf("locked value not exists: %b", f)
	}
	f = ApplyFlagsOps(f, SetKeyLockedInExclusiveMode, DelKeyLocked, DelNeedLocked, SetNeedConstraintCheckInPrewrite, DelNeedConstraintCheckInPrewrite)
	if f != 0 {
		t.Fatalf("cleared: %b", f)
	}
	f = ApplyFlagsOps(0, SetPrewriteOnly, SetIgnoredIn2PC, SetReadable, SetNewlyInserted)
	if !f.HasPrewriteOnly() || !f.HasIgnoredIn2PC() || !f.HasReadable() || !f.HasNewlyInserted() || f.AndPersistent() != 0 {
		t.Fatalf("misc: %b", f)
	}
}

func TestAssertionFlags(t *testing.T) {
	cases := []struct {
		op                         FlagsOp
		exist, notExist, unk, some bool
	}{
		{SetAssertExist, true, false, false, true},
		{SetAssertNotExist, false, true, false, true},
		{SetAssertUnknown, false, false, true, true},
		{SetAssertNone, false, false, false, false},
	}
	for _, from := range []FlagsOp{SetAssertExist, SetAssertNotExist, SetAssertNone} {
		for _, c := range cases {
			f := ApplyFlagsOps(0, from, c.op)
			if c.op == SetAssertUnknown && from == SetAssertNone {
				f = ApplyFlagsOps(0, c.op)
			}
			if f.HasAssertExist() != c.exist || f.HasAssertNotExist() != c.notExist ||
				f.HasAssertUnknown() != c.unk || f.HasAssertionFlags() != c.some {
				t.Errorf("%v then %v: %b", from, c.op, f)
			}
		}
	}
}
