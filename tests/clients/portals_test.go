package clients

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// pgjdbc with autocommit off and setFetchSize 1, 2 and 50 over more rows
// than one fetch, calling ResultSetMetaData (pgjdbc's own catalog query,
// with Sync) and running another statement between fetches: the named
// portal must live until the transaction ends.
func TestJDBCCursorSurvivesOtherStatements(t *testing.T) {
	javac := need(t, "javac", "install a JDK 17 (apt-get install openjdk-17-jdk-headless)")
	java := need(t, "java", "install a JDK 17 (apt-get install openjdk-17-jdk-headless)")
	jar := need(t, "/usr/share/java/postgresql.jar", "install pgjdbc with `apt-get install libpostgresql-jdbc-java`")
	g := startGateway(t)
	c := g.connect(t, pgx.QueryExecModeSimpleProtocol)
	var b strings.Builder
	var want []string
	for i := 1; i <= 120; i++ {
		name := fmt.Sprintf("ds%03d", i)
		want = append(want, name)
		fmt.Fprintf(&b, "CREATE DATASOURCE %s TYPE postgres OPTIONS (host '127.0.0.1', database 'd', user 'u');", name)
	}
	if _, err := c.Exec(context.Background(), b.String()); err != nil {
		t.Fatal(err)
	}
	classes := t.TempDir()
	if out, err := exec.Command(javac, "-d", classes, "testdata/PortalCheck.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	url := "jdbc:postgresql://" + g.addr() + "/flowgate?sslmode=disable"
	f := run(t, nil, java, "-cp", classes+string(os.PathListSeparator)+jar, "PortalCheck", url, "admin")
	for _, size := range []int{1, 2, 50} {
		wantFact(t, f, fmt.Sprintf("fetch%d_count", size), "120")
		wantFact(t, f, fmt.Sprintf("fetch%d_names", size), strings.Join(want, ","))
	}
}
