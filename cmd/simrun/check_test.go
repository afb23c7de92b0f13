package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Small histories for every model of simrun check, each valid or not.
var checkCases = []struct {
	name  string
	args  []string
	hist  string
	code  int
	wants []string
}{
	{"register-ok", []string{"--model", "linearizable"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","key":"x","value":1}`, 0, []string{"VALID"}},
	{"register-stale-read", []string{"--model", "linearizable"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","key":"x","value":null}`, 1, []string{"INVALID: nonlinearizable", "#3 p1 ok read"}},
	{"list-append-g1c", []string{"--model", "list-append", "--consistency", "serializable"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]]}
{"index":1,"time":2,"process":1,"type":"invoke","f":"txn","value":[["append","y",1],["r","x",null]]}
{"index":2,"time":3,"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[1]]]}
{"index":3,"time":4,"process":1,"type":"ok","f":"txn","value":[["append","y",1],["r","x",[1]]]}`, 1, []string{"model list-append (serializable)", "INVALID: G1c", "-> wr: "}},
	{"rw-register-write-skew-under-si", []string{"--model", "rw-register", "--consistency", "snapshot-isolation"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"txn","value":[["r","x",null],["w","y",1]]}
{"index":1,"time":2,"process":1,"type":"invoke","f":"txn","value":[["r","y",null],["w","x",1]]}
{"index":2,"time":3,"process":0,"type":"ok","f":"txn","value":[["r","x",null],["w","y",1]]}
{"index":3,"time":4,"process":1,"type":"ok","f":"txn","value":[["r","y",null],["w","x",1]]}`, 0, []string{"VALID", "allowed by snapshot-isolation: G2-item"}},
	{"bank-wrong-total", []string{"--model", "bank", "--total", "100"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","value":{"a":60,"b":30}}`, 1, []string{"INVALID: wrong-total"}},
	{"bank-inferred-total", []string{"--model", "bank"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","value":{"a":60,"b":40}}`, 0, []string{"total 100 inferred", "VALID"}},
	{"set-lost-insert", []string{"--model", "set"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"add","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"add","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","value":[]}`, 1, []string{"INVALID: lost-insert"}},
	{"monotonic", []string{"--model", "monotonic"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"read","key":"x","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","key":"x","value":5}
{"index":2,"time":3,"process":0,"type":"invoke","f":"read","key":"x","value":null}
{"index":3,"time":4,"process":0,"type":"ok","f":"read","key":"x","value":4}`, 1, []string{"INVALID: nonmonotonic-read"}},
	{"counter", []string{"--model", "counter"}, `
{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","value":1}`, 1, []string{"INVALID: counter-out-of-bounds"}},
	{"malformed", []string{"--model", "counter"}, `
{"index":0,"time":1,"process":0,"type":"ok","f":"read","value":1}`, 2, []string{"UNKNOWN: "}},
}

func TestCheckSubcommand(t *testing.T) {
	dir := t.TempDir()
	for _, c := range checkCases {
		file := filepath.Join(dir, c.name+".jsonl")
		if err := os.WriteFile(file, []byte(strings.TrimSpace(c.hist)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// The file may come before the flags as well.
		args := append([]string{"check", file}, c.args...)
		code, out, errs := simrun(t, args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", c.name, code, c.code, out, errs)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
}

func TestCheckWritesTimelines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "h.jsonl")
	os.WriteFile(file, []byte(strings.TrimSpace(checkCases[1].hist)+"\n"), 0o644)
	out := filepath.Join(dir, "out")
	if code, o, _ := simrun(t, "check", "--model", "linearizable", "--out", out, file); code != 1 {
		t.Fatalf("exit %d\n%s", code, o)
	}
	for _, f := range []string{"timeline.html", "porcupine.html"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || len(b) < 200 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{
		{"check"}, {"check", "--model", "linearizable"}, {"check", "--model", "nope", "f"},
		{"check", "--model", "list-append", "--consistency", "nope", "f"},
		{"check", "--model", "counter", "/does/not/exist"}, {"check", "--model", "counter", "a", "b"},
	} {
		if code, _, _ := simrun(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	code, _, errs := simrun(t, "check", "--help")
	if code != 0 || !strings.Contains(errs, "strict-serializable") || !strings.Contains(errs, "monotonic") {
		t.Errorf("check --help: exit %d\n%s", code, errs)
	}
}
