// Package kv owns the small value types shared by the transactional client's
// layers: today the per-key flags (KeyFlags) that the write buffer keeps next
// to each buffered key and the operations (FlagsOp) that change them. The
// bit layout and the meaning of every flag follow client-go kv/keyflags.go so
// that the 2PC committer can read them the same way client-go does.
package kv

// KeyFlags are the metadata the write buffer keeps for one key. They are not
// rolled back with values: see unionstore.MemDB for which flags survive a
// Cleanup (the persistent ones).
type KeyFlags uint16

// FlagBytes is the size of KeyFlags in bytes.
const FlagBytes = 2

const (
	flagPresumeKNE KeyFlags = 1 << iota
	flagKeyLocked
	flagNeedLocked
	flagKeyLockedValExist
	flagNeedCheckExists
	flagPrewriteOnly
	flagIgnoredIn2PC
	flagReadable
	flagNewlyInserted

	// The two assertion bits: neither set means no assertion yet, one of
	// them means assert exist / not exist, both mean "unknown" (no
	// assertion can be made). Once set, the assertion is expected to stay.
	flagAssertExist
	flagAssertNotExist

	// flagNeedConstraintCheckInPrewrite postpones the conflict check of a
	// presumed-not-exist key to prewrite (pessimistic transactions only). A
	// write of a value clears it.
	flagNeedConstraintCheckInPrewrite

	// flagPreviousPresumeKNE is a PresumeKNE set by an earlier statement
	// that must not be unset by a later one (lazy uniqueness checks).
	flagPreviousPresumeKNE

	// flagKeyLockedInShareMode marks a key locked in share mode; it is only
	// meaningful together with flagKeyLocked.
	flagKeyLockedInShareMode

	// persistentFlags survive a Cleanup or RevertToCheckpoint that removes
	// the key's value: they describe locks already acquired on TiKV.
	persistentFlags = flagKeyLocked | flagKeyLockedValExist | flagNeedConstraintCheckInPrewrite | flagKeyLockedInShareMode
)

// HasAssertExist reports whether 2PC must assert that the key exists.
func (f KeyFlags) HasAssertExist() bool {
	return f&flagAssertExist != 0 && f&flagAssertNotExist == 0
}

// HasAssertNotExist reports whether 2PC must assert that the key does not exist.
func (f KeyFlags) HasAssertNotExist() bool {
	return f&flagAssertNotExist != 0 && f&flagAssertExist == 0
}

// HasAssertUnknown reports whether the key is marked as one on which no
// assertion can be made.
func (f KeyFlags) HasAssertUnknown() bool {
	return f&flagAssertExist != 0 && f&flagAssertNotExist != 0
}

// HasAssertionFlags reports whether any assertion (including unknown) is set.
func (f KeyFlags) HasAssertionFlags() bool {
	return f&flagAssertExist != 0 || f&flagAssertNotExist != 0
}

// HasPresumeKeyNotExists reports whether the key's existence is checked
// lazily (presumed not to exist until prewrite), by this statement or an
// earlier one.
func (f KeyFlags) HasPresumeKeyNotExists() bool {
	return f&(flagPresumeKNE|flagPreviousPresumeKNE) != 0
}

// HasLocked reports whether the key holds a pessimistic lock.
func (f KeyFlags) HasLocked() bool { return f&flagKeyLocked != 0 }

// HasLockedInShareMode reports whether the key is locked in share mode.
func (f KeyFlags) HasLockedInShareMode() bool { return f&flagKeyLockedInShareMode != 0 }

// HasNeedLocked reports whether the key still needs a pessimistic lock.
func (f KeyFlags) HasNeedLocked() bool { return f&flagNeedLocked != 0 }

// HasLockedValueExists reports whether the value existed when the key was locked.
func (f KeyFlags) HasLockedValueExists() bool { return f&flagKeyLockedValExist != 0 }

// HasNeedCheckExists reports whether existence must be checked when the key is locked.
func (f KeyFlags) HasNeedCheckExists() bool { return f&flagNeedCheckExists != 0 }

// HasPrewriteOnly reports whether the key is prewritten but not committed
// (it is left out of the commit phase).
func (f KeyFlags) HasPrewriteOnly() bool { return f&flagPrewriteOnly != 0 }

// HasIgnoredIn2PC reports whether 2PC skips the key.
func (f KeyFlags) HasIgnoredIn2PC() bool { return f&flagIgnoredIn2PC != 0 }

// HasReadable reports whether in-transaction reads may see the key.
func (f KeyFlags) HasReadable() bool { return f&flagReadable != 0 }

// HasNeedConstraintCheckInPrewrite reports whether prewrite must check the
// key's constraint (see SetNeedConstraintCheckInPrewrite).
func (f KeyFlags) HasNeedConstraintCheckInPrewrite() bool {
	return f&flagNeedConstraintCheckInPrewrite != 0
}

// HasNewlyInserted reports whether the key was written by an insert.
func (f KeyFlags) HasNewlyInserted() bool { return f&flagNewlyInserted != 0 }

// AndPersistent returns the flags that survive the removal of the key's
// value by a Cleanup or a RevertToCheckpoint.
func (f KeyFlags) AndPersistent() KeyFlags { return f & persistentFlags }

// ApplyFlagsOps returns origin with ops applied in order.
func ApplyFlagsOps(origin KeyFlags, ops ...FlagsOp) KeyFlags {
	for _, op := range ops {
		origin = op.apply(origin)
	}
	return origin
}

func (op FlagsOp) apply(f KeyFlags) KeyFlags {
	switch op {
	case SetPresumeKeyNotExists:
		f |= flagPresumeKNE | flagNeedCheckExists
	case DelPresumeKeyNotExists:
		f &^= flagPresumeKNE | flagNeedCheckExists
	case SetKeyLocked:
		f |= flagKeyLocked
	case DelKeyLocked:
		f &^= flagKeyLocked
	case SetNeedLocked:
		f |= flagNeedLocked
	case DelNeedLocked:
		f &^= flagNeedLocked
	case SetKeyLockedValueExists:
		f |= flagKeyLockedValExist
		f &^= flagNeedConstraintCheckInPrewrite
	case DelNeedCheckExists:
		f &^= flagNeedCheckExists
	case SetKeyLockedValueNotExists:
		f &^= flagKeyLockedValExist | flagNeedConstraintCheckInPrewrite
	case SetPrewriteOnly:
		f |= flagPrewriteOnly
	case SetIgnoredIn2PC:
		f |= flagIgnoredIn2PC
	case SetReadable:
		f |= flagReadable
	case SetNewlyInserted:
		f |= flagNewlyInserted
	case SetAssertExist:
		f = f&^flagAssertNotExist | flagAssertExist
	case SetAssertNotExist:
		f = f&^flagAssertExist | flagAssertNotExist
	case SetAssertUnknown:
		f |= flagAssertExist | flagAssertNotExist
	case SetAssertNone:
		f &^= flagAssertExist | flagAssertNotExist
	case SetNeedConstraintCheckInPrewrite:
		f |= flagNeedConstraintCheckInPrewrite
	case DelNeedConstraintCheckInPrewrite:
		f &^= flagNeedConstraintCheckInPrewrite
	case SetPreviousPresumeKNE:
		f |= flagPreviousPresumeKNE
	case SetKeyLockedInShareMode:
		f |= flagKeyLockedInShareMode
	case SetKeyLockedInExclusiveMode:
		f &^= flagKeyLockedInShareMode
	}
	return f
}

// FlagsOp is one change to a key's KeyFlags.
type FlagsOp uint32

const (
	// SetPresumeKeyNotExists marks the key's existence as checked lazily;
	// it implies HasNeedCheckExists.
	SetPresumeKeyNotExists FlagsOp = 1 << iota
	// DelPresumeKeyNotExists reverts SetPresumeKeyNotExists.
	DelPresumeKeyNotExists
	// SetKeyLocked marks the key as holding a pessimistic lock.
	SetKeyLocked
	// DelKeyLocked reverts SetKeyLocked.
	DelKeyLocked
	// SetNeedLocked marks the key as needing a pessimistic lock.
	SetNeedLocked
	// DelNeedLocked reverts SetNeedLocked.
	DelNeedLocked
	// SetKeyLockedValueExists records that the value existed when locked;
	// it clears NeedConstraintCheckInPrewrite.
	SetKeyLockedValueExists
	// SetKeyLockedValueNotExists records that the value did not exist when
	// locked; it clears NeedConstraintCheckInPrewrite.
	SetKeyLockedValueNotExists
	// DelNeedCheckExists clears NeedCheckExists.
	DelNeedCheckExists
	// SetPrewriteOnly leaves the key out of the commit phase.
	SetPrewriteOnly
	// SetIgnoredIn2PC makes 2PC skip the key.
	SetIgnoredIn2PC
	// SetReadable lets in-transaction reads see the key.
	SetReadable
	// SetNewlyInserted marks the key as written by an insert.
	SetNewlyInserted
	// SetAssertExist asserts the key exists.
	SetAssertExist
	// SetAssertNotExist asserts the key does not exist.
	SetAssertNotExist
	// SetAssertUnknown marks the key as one no assertion can be made on.
	SetAssertUnknown
	// SetAssertNone clears the assertion.
	SetAssertNone
	// SetNeedConstraintCheckInPrewrite postpones the key's conflict check
	// to prewrite.
	SetNeedConstraintCheckInPrewrite
	// DelNeedConstraintCheckInPrewrite reverts SetNeedConstraintCheckInPrewrite.
	DelNeedConstraintCheckInPrewrite
	// SetPreviousPresumeKNE marks a PresumeKNE from an earlier statement.
	SetPreviousPresumeKNE
	// SetKeyLockedInShareMode marks the lock as a share-mode lock.
	SetKeyLockedInShareMode
	// SetKeyLockedInExclusiveMode reverts SetKeyLockedInShareMode.
	SetKeyLockedInExclusiveMode
)
