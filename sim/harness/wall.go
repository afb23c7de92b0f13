package harness

// This file is allow-listed in internal/guard: it measures the wall-clock
// duration of a run for Result.WallMS, a report field that never feeds back
// into the run.

import "time"

// wallTimer starts a stopwatch and returns a function reading it in ms.
func wallTimer() func() int64 {
	start := time.Now()
	return func() int64 { return time.Since(start).Milliseconds() }
}
