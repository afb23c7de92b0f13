package mvcc

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHouseRules keeps the engine a pure library (DESIGN.md determinism
// contract): no clock reads, sleeps, timers, goroutines, global randomness
// or I/O in non-test files.
func TestHouseRules(t *testing.T) {
	banned := []*regexp.Regexp{
		regexp.MustCompile(`\btime\.(Now|Since|Until|Sleep|After|AfterFunc|NewTimer|NewTicker|Tick)\(`),
		regexp.MustCompile(`(^|[^.\w])go\s+(func\b|\w+\()`),
		regexp.MustCompile(`"math/rand`),
		regexp.MustCompile(`"crypto/rand"`),
		regexp.MustCompile(`"(os|net|io/ioutil)"`),
		regexp.MustCompile(`context\.With(Timeout|Deadline)`),
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			code := line
			if j := strings.Index(code, "//"); j >= 0 {
				code = code[:j]
			}
			for _, re := range banned {
				if re.MatchString(code) {
					t.Errorf("%s:%d: banned construct %q: %s", f, i+1, re.String(), strings.TrimSpace(line))
				}
			}
		}
	}
}
