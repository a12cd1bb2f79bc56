package temporal

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// underTemporal are end-to-end tests of package tests, written for the
// embedded engine, that run with their gateways under --engine
// temporal (tests/engine_test.go): batch jobs streamed by workers
// (staging 'none', their partitions reading one source snapshot) and
// staged on them (files in the shared staging directory or S3),
// verification, bad input and its errors, a lock timeout followed by
// RETRY, database jobs across PostgreSQL, MySQL, SQLite and S3, scans of a
// table and of a database, a throttled scan (its stage's times come from
// the worker), a load of S3 objects, a file export, a CDC job from PostgreSQL and one from MySQL whose gateway
// is killed (-9) five times and stopped once while the pipeline runs on a
// worker. Tests that assert the embedded engine's own
// behaviour (a run killed with its gateway is failed, as in
// TestKill9DuringImportThenRetry, TestScanKill9ContinuesFromWatermark,
// TestFilesExportRetryAfterKill; a run's message exactly) stay out:
// under Temporal the run goes on and its message names the workflow.
var underTemporal = []string{
	"TestBatchJobPostgresToPostgres",
	"TestBatchJobErrorsAreClear",
	"TestDatabaseJobsAcrossMySQLPostgresSQLiteAndS3",
	"TestBatchPartitionsReadOneSnapshot",
	"TestBatchPartitionsFromStatistics",
	"TestBatchStagedLoadsBinaryIntoPostgres",
	"TestFiltersColumnsAndCleanSourceData",
	"TestParquetStagedFiles",
	"TestLockTimeoutOnTargetThenRetry",
	"TestScanIncrementalPostgresToPostgres",
	"TestScanDatabase",
	"TestScanThrottle",
	"TestFilesLoadFromObjects",
	"TestFilesExportWindows",
	"TestCDCPostgresIntoMySQLAndSQLite",
	"TestCDCMySQLSurvivesKill9AndSIGTERM",
}

// TestEmbeddedEngineTestsUnderTemporal runs those tests in a child `go
// test` against this package's Temporal server and checks that their
// gateways did run under the temporal engine.
func TestEmbeddedEngineTestsUnderTemporal(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	names := underTemporal
	if v := os.Getenv("FLOWGATE_TEST_UNDER_TEMPORAL"); v != "" {
		names = strings.Split(v, ",") // others, to try them under the temporal engine
	}
	cmd := exec.Command("go", "test", "./tests", "-count=1", "-v", "-run", "^("+strings.Join(names, "|")+")$")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "FLOWGATE_TEST_TEMPORAL_ADDRESS="+server.GetFrontendHostPort(),
		"FLOWGATE_TEST_TEMPORAL_NAMESPACE="+server.GetDefaultNamespace())
	started := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test ./tests under --engine temporal: %v\n%s", err, out)
	}
	t.Logf("%d tests under --engine temporal in %s", len(names), time.Since(started).Round(time.Second))
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` `).Match(out) {
			t.Errorf("%s did not pass (or did not run):\n%s", name, out)
		}
	}
	if n := strings.Count(string(out), "gateway under --engine temporal"); n < len(names) {
		t.Errorf("%d gateways said they ran under --engine temporal, want at least %d:\n%s", n, len(names), out)
	}
	workflows := 0
	for _, m := range regexp.MustCompile(`(\d+) runs executed as Temporal workflows`).FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		workflows += n
	}
	t.Logf("%d runs of those tests executed as Temporal workflows", workflows)
	if workflows == 0 {
		t.Errorf("no run of those tests went to Temporal workers:\n%s", out)
	}
}
