package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/linearizability"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/harness"
)

// writeArtifacts writes a failing run's files into its directory under --out:
// history.jsonl, trace.txt (the human-readable trace, from a rerun of the
// seed, which also checks that the run replays), timeline.html, and for
// register histories porcupine.html. It returns the directory.
func writeArtifacts(o *options, spec harness.Spec, res harness.Result) (string, error) {
	dir, err := o.artifactDir(res.Seed)
	if err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(dir, "history.jsonl"), func(w io.Writer) error {
		return checkers.WriteJSONL(w, res.History)
	}); err != nil {
		return dir, err
	}
	if err := writeFile(filepath.Join(dir, "trace.txt"), func(w io.Writer) error {
		return writeTrace(w, spec, res)
	}); err != nil {
		return dir, err
	}
	title := fmt.Sprintf("seed %d, workload %s, faults %s: %s", res.Seed, res.Workload, res.Faults, verdict(res))
	if err := writeFile(filepath.Join(dir, "timeline.html"), func(w io.Writer) error {
		return writeTimeline(w, title, res.History, res.Check.Anomalies)
	}); err != nil {
		return dir, err
	}
	if wantsPorcupine(res) {
		if err := writeFile(filepath.Join(dir, "porcupine.html"), func(w io.Writer) error {
			return linearizability.Visualize(w, res.History, linearizability.Options{Timeout: time.Minute})
		}); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// wantsPorcupine reports whether the run's history is a register history
// that porcupine can draw.
func wantsPorcupine(r harness.Result) bool {
	return !r.Valid && (r.Workload == "register" || slices.Contains(r.Anomalies, "nonlinearizable"))
}

// writeTrace reruns spec's seed, writing every trace event in the --replay
// form, and notes it if the rerun's hash differs (a determinism bug).
func writeTrace(w io.Writer, spec harness.Spec, res harness.Result) error {
	spec.Seed = res.Seed
	spec.OnSetup = nil
	bw := bufio.NewWriter(w)
	writeLegend(bw, res.Seed)
	spec.Trace = func(e sim.TraceEvent) { fmt.Fprintln(bw, e.String()) }
	again := harness.Run(spec)
	if again.Hash != res.Hash {
		fmt.Fprintf(bw, "# WARNING: this rerun gave trace hash %s, the run gave %s: the run is not deterministic\n", again.TraceHash, res.TraceHash)
	} else {
		fmt.Fprintf(bw, "# trace hash %s\n", again.TraceHash)
	}
	return bw.Flush()
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeTimeline writes a self-contained HTML page drawing h: one lane per
// process, each operation a bar from its invoke to its completion (to the
// end of the history if it never completed), colored by outcome, with the
// operations of the anomalies outlined in red and the rest dimmed. Hovering
// a bar shows the operation.
func writeTimeline(w io.Writer, title string, h checkers.History, anomalies []checkers.Anomaly) error {
	pairs, err := h.Pairs()
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	hot := map[int64]bool{}
	for _, a := range anomalies {
		for _, op := range a.Ops {
			hot[op.Index] = true
		}
	}
	var procs []int
	var end int64 = 1
	for _, p := range pairs {
		procs = append(procs, p.Invoke.Process)
		end = max(end, p.Invoke.Time)
		if p.Complete.Time != checkers.OpenTime {
			end = max(end, p.Complete.Time)
		}
	}
	slices.Sort(procs)
	procs = slices.Compact(procs)
	lane := map[int]int{}
	for i, p := range procs {
		lane[p] = i
	}
	const width, laneH, left, top = 1400.0, 18, 70, 24
	x := func(t int64) float64 { return left + width*float64(t)/float64(end) }
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%s</title>
<style>
body{font:13px sans-serif;margin:16px}
rect.op{stroke:#555;stroke-width:.5}
rect.ok{fill:#7cc47f} rect.fail{fill:#c9c9c9} rect.info{fill:#f0a840}
svg.focus rect.op{opacity:.35} svg.focus rect.hot{opacity:1}
rect.hot{stroke:#d00;stroke-width:2.5}
text{font:11px monospace}
</style></head><body>
<h2>%s</h2>
<p>One lane per process; each bar runs from an operation's invoke to its completion
(<span style="background:#7cc47f">ok</span>, <span style="background:#c9c9c9">fail</span>,
<span style="background:#f0a840">info: outcome unknown, drawn to the end</span>).
Operations of the anomalies below are outlined in red. Hover a bar for the operation.
Time is simulated; the history spans %v.</p>
`, html.EscapeString(title), html.EscapeString(title), time.Duration(end))
	if len(anomalies) > 0 {
		fmt.Fprintf(bw, "<ol>\n")
		for _, a := range anomalies {
			fmt.Fprintf(bw, "<li><b>%s</b>: %s</li>\n", html.EscapeString(a.Kind), html.EscapeString(a.Explanation))
		}
		fmt.Fprintf(bw, "</ol>\n")
	}
	class := ""
	if len(hot) > 0 {
		class = ` class="focus"`
	}
	fmt.Fprintf(bw, `<svg%s xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%d">`+"\n", class, left+width+20, top+laneH*len(procs)+10)
	for i := 0; i <= 10; i++ {
		t := end * int64(i) / 10
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="12">%v</text>`+"\n",
			x(t), top-4, x(t), top+laneH*len(procs), x(t)-10, time.Duration(t).Round(time.Microsecond))
	}
	for i, p := range procs {
		fmt.Fprintf(bw, `<text x="2" y="%d">p%d</text>`+"\n", top+laneH*i+13, p)
	}
	for _, p := range pairs {
		kind := string(p.Complete.Type)
		to := p.Complete.Time
		if to == checkers.OpenTime || p.Complete.Type == checkers.Info {
			to = end
		}
		x0, x1 := x(p.Invoke.Time), x(to)
		cls := "op " + kind
		if hot[p.Invoke.Index] || (p.Complete.Index >= 0 && hot[p.Complete.Index]) {
			cls += " hot"
		}
		tip := p.Invoke.String() + "\n" + p.Complete.String()
		fmt.Fprintf(bw, `<rect class="%s" x="%.2f" y="%d" width="%.2f" height="%d"><title>%s</title></rect>`+"\n",
			cls, x0, top+laneH*lane[p.Invoke.Process]+2, max(x1-x0, 1.5), laneH-4, html.EscapeString(strings.TrimSpace(tip)))
	}
	fmt.Fprintf(bw, "</svg>\n</body></html>\n")
	return bw.Flush()
}
