package sim

// This file is allow-listed in internal/guard for wall-clock use: the stall
// watchdog is the one place where the kernel looks at real time, and it never
// influences a run that makes progress.

import (
	"fmt"
	"time"
)

// waitExit blocks Run until the run ends. If no scheduling step happens for
// Options.Stall of wall time, the running task is blocked on something the
// kernel cannot see (a plain channel, a sync.WaitGroup, I/O) or spins; waitExit
// then returns a stall failure instead of hanging forever.
func (w *World) waitExit() *Failure {
	if w.rt != nil {
		// Real time: an idle world waits for the wall clock or an
		// injection, which is no stall.
		<-w.exit
		return nil
	}
	stall := w.opts.Stall
	if stall <= 0 {
		stall = time.Minute
	}
	tick := time.NewTicker(stall / 4)
	defer tick.Stop()
	last, lastChange := w.progress.Load(), time.Now()
	for {
		select {
		case <-w.exit:
			return nil
		case now := <-tick.C:
			if p := w.progress.Load(); p != last {
				last, lastChange = p, now
				continue
			}
			if now.Sub(lastChange) >= stall {
				return &Failure{Seed: w.seed, Kind: FailStall, Step: last,
					Msg: fmt.Sprintf("no scheduling step for %v of wall time: a task blocks on a wait the kernel cannot see, or never yields", stall)}
			}
		}
	}
}
