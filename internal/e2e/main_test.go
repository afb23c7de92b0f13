package e2e

import (
	"os"
	"testing"

	"github.com/pingcap/log"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) {
	if os.Getenv(serveChildEnv) == "1" {
		serveChild() // the benchmarks' cluster; does not return
	}
	// The pd client logs through pingcap/log's global logger at info
	// level: connections, leader updates, closing. Keep test output to
	// warnings.
	log.SetLevel(zapcore.WarnLevel)
	code := m.Run()
	stopBenchCluster()
	os.Exit(code)
}
