package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action is a topology change as a value: it prints in the syntax
// ParseAction reads, so actions can be written in flags, tests and failure
// reports, exactly like network faults.
//
//	split("k5")          split the region containing k5 at k5
//	merge("k5")          merge the region containing k5 into a neighbour
//	transfer("k5",2)     move that region's leader to store 2
//	crash(2) / restart(2)
//	busy(2) / idle(2)    store 2 answers ServerIsBusy / stops doing so
//	pd-crash / pd-restart / pd-leader
//	tso-jump(10s)        PD's physical clock jumps forward
type Action interface {
	String() string
	Apply(c *Cluster) error
}

// The topology actions.
type (
	// SplitAction splits at Key.
	SplitAction struct{ Key []byte }
	// MergeAction merges the region containing Key into a neighbour.
	MergeAction struct{ Key []byte }
	// TransferAction moves the leader of the region containing Key.
	TransferAction struct {
		Key   []byte
		Store uint64
	}
	// CrashAction crashes a store.
	CrashAction struct{ Store uint64 }
	// RestartAction restarts a store.
	RestartAction struct{ Store uint64 }
	// BusyAction makes a store busy (or idle again).
	BusyAction struct {
		Store uint64
		Busy  bool
	}
	// PDAction crashes or restarts PD, or changes its leader.
	PDAction struct{ Op string }
	// TSOJumpAction jumps PD's physical clock forward.
	TSOJumpAction struct{ D time.Duration }
)

func (a SplitAction) String() string    { return "split(" + strconv.Quote(string(a.Key)) + ")" }
func (a MergeAction) String() string    { return "merge(" + strconv.Quote(string(a.Key)) + ")" }
func (a TransferAction) String() string { return fmt.Sprintf("transfer(%q,%d)", a.Key, a.Store) }
func (a CrashAction) String() string    { return fmt.Sprintf("crash(%d)", a.Store) }
func (a RestartAction) String() string  { return fmt.Sprintf("restart(%d)", a.Store) }
func (a BusyAction) String() string {
	if a.Busy {
		return fmt.Sprintf("busy(%d)", a.Store)
	}
	return fmt.Sprintf("idle(%d)", a.Store)
}
func (a PDAction) String() string      { return "pd-" + a.Op }
func (a TSOJumpAction) String() string { return "tso-jump(" + a.D.String() + ")" }

// Apply splits.
func (a SplitAction) Apply(c *Cluster) error { return c.Split(a.Key) }

// Apply merges.
func (a MergeAction) Apply(c *Cluster) error { return c.Merge(a.Key) }

// Apply transfers the leader.
func (a TransferAction) Apply(c *Cluster) error { return c.TransferLeader(a.Key, a.Store) }

// Apply crashes the store.
func (a CrashAction) Apply(c *Cluster) error { return c.CrashStore(a.Store) }

// Apply restarts the store.
func (a RestartAction) Apply(c *Cluster) error { return c.RestartStore(a.Store) }

// Apply sets the store's busy flag.
func (a BusyAction) Apply(c *Cluster) error { return c.SetBusy(a.Store, a.Busy) }

// Apply runs the PD operation.
func (a PDAction) Apply(c *Cluster) error {
	switch a.Op {
	case "crash":
		c.CrashPD()
	case "restart":
		c.RestartPD()
	case "leader":
		c.ChangePDLeader()
	default:
		return badAction("unknown pd action %q", a.Op)
	}
	return nil
}

// Apply jumps the TSO.
func (a TSOJumpAction) Apply(c *Cluster) error {
	if a.D <= 0 {
		return badAction("tso-jump needs a positive duration")
	}
	c.JumpTSO(a.D)
	return nil
}

// ParseAction reads one action in the syntax documented on Action.
func ParseAction(s string) (Action, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "pd-crash", "pd-restart", "pd-leader":
		return PDAction{Op: strings.TrimPrefix(s, "pd-")}, nil
	}
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("cluster: bad action %q", s)
	}
	name, arg := s[:open], s[open+1:len(s)-1]
	bad := func(why string) (Action, error) { return nil, fmt.Errorf("cluster: bad action %q: %s", s, why) }
	store := func(a string) (uint64, error) {
		id, err := strconv.ParseUint(strings.TrimSpace(a), 10, 64)
		if err != nil || id == 0 {
			return 0, fmt.Errorf("bad store id %q", a)
		}
		return id, nil
	}
	switch name {
	case "split", "merge":
		k, err := strconv.Unquote(arg)
		if err != nil {
			return bad("want a quoted key")
		}
		if name == "split" {
			return SplitAction{[]byte(k)}, nil
		}
		return MergeAction{[]byte(k)}, nil
	case "transfer":
		i := strings.LastIndexByte(arg, ',')
		if i < 0 {
			return bad("want transfer(\"key\",store)")
		}
		k, err := strconv.Unquote(arg[:i])
		if err != nil {
			return bad("want a quoted key")
		}
		id, err := store(arg[i+1:])
		if err != nil {
			return bad(err.Error())
		}
		return TransferAction{[]byte(k), id}, nil
	case "crash", "restart", "busy", "idle":
		id, err := store(arg)
		if err != nil {
			return bad(err.Error())
		}
		switch name {
		case "crash":
			return CrashAction{id}, nil
		case "restart":
			return RestartAction{id}, nil
		}
		return BusyAction{id, name == "busy"}, nil
	case "tso-jump":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return bad("want a positive duration")
		}
		return TSOJumpAction{d}, nil
	}
	return bad("unknown action " + name)
}
