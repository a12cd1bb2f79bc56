package tests

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
)

// mdBlock is one fenced code block of a markdown file.
type mdBlock struct {
	info string // the fence's info string: sql, sh, text, ...
	body string
	line int // 1-based line of the opening fence in the file
}

// readmeSection returns the text under "## heading" up to the next "## "
// heading, and the file line it starts on.
func readmeSection(t testing.TB, readme, heading string) (string, int) {
	t.Helper()
	lines := strings.Split(readme, "\n")
	start := -1
	for i, l := range lines {
		if start < 0 {
			if strings.TrimSpace(l) == "## "+heading {
				start = i
			}
			continue
		}
		if strings.HasPrefix(l, "## ") {
			return strings.Join(lines[start:i], "\n"), start + 1
		}
	}
	if start < 0 {
		t.Fatalf("README.md has no %q section", "## "+heading)
	}
	return strings.Join(lines[start:], "\n"), start + 1
}

// fencedBlocks lists the ``` blocks of md, whose first line is file line first.
func fencedBlocks(t testing.TB, md string, first int) []mdBlock {
	t.Helper()
	var blocks []mdBlock
	var cur *mdBlock
	var body []string
	for i, l := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(l)
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				body = append(body, l)
			}
			continue
		}
		if cur == nil {
			cur = &mdBlock{info: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: first + i}
			body = nil
			continue
		}
		cur.body = strings.Join(body, "\n")
		blocks = append(blocks, *cur)
		cur = nil
	}
	if cur != nil {
		t.Fatalf("README.md line %d: code block never closed", cur.line)
	}
	return blocks
}

// server is where the test points a datasource or client: a throwaway
// server's address and credentials.
type readmeServer struct {
	host     string
	port     int
	user     string
	password string
}

var (
	datasourceRE = regexp.MustCompile(`(?is)CREATE\s+DATASOURCE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+TYPE\s+(\w+)\s+OPTIONS\s*\(([^)]*)\)`)
	optionRE     = regexp.MustCompile(`(?i)\b(host|port|user|password|database)\s+'((?:[^']|'')*)'`)
)

// rewriteDatasources is the README test's one change to the README's SQL:
// in every CREATE DATASOURCE of type postgres or mysql, the values of the
// host, port, user and password options become the throwaway server's.
// Each of the four must be spelled out (a default would point elsewhere).
// It also returns the database option by datasource type.
func rewriteDatasources(t testing.TB, sqlText string, servers map[string]readmeServer) (string, map[string]string) {
	t.Helper()
	databases := map[string]string{}
	var failed []string
	out := datasourceRE.ReplaceAllStringFunc(sqlText, func(stmt string) string {
		m := datasourceRE.FindStringSubmatch(stmt)
		name, typ, opts := m[1], strings.ToLower(m[2]), m[3]
		srv, ok := servers[typ]
		if !ok {
			return stmt
		}
		seen := map[string]bool{}
		newOpts := optionRE.ReplaceAllStringFunc(opts, func(opt string) string {
			om := optionRE.FindStringSubmatch(opt)
			key := strings.ToLower(om[1])
			seen[key] = true
			var v string
			switch key {
			case "host":
				v = srv.host
			case "port":
				v = strconv.Itoa(srv.port)
			case "user":
				v = srv.user
			case "password":
				v = srv.password
			default: // database: kept as written
				databases[typ] = strings.ReplaceAll(om[2], "''", "'")
				return opt
			}
			return om[1] + " " + sqlString(v)
		})
		for _, k := range []string{"host", "port", "user", "password"} {
			if !seen[k] {
				failed = append(failed, fmt.Sprintf("datasource %s has no %s option", name, k))
			}
		}
		return strings.Replace(stmt, opts, newOpts, 1)
	})
	if len(failed) > 0 {
		t.Fatalf("README worked example: %s; the test rewrites host, port, user and password, so each must be written out", strings.Join(failed, "; "))
	}
	return out, databases
}

// normalizeOutput drops trailing blanks of each line: psql pads the last
// column, editors strip it.
func normalizeOutput(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

// loadLine finds the README's `mariadb ... db < file` line and rewrites its
// -h, -P and -u values for my. It returns the client arguments, the
// database and the script's path relative to the repository.
func loadLine(t testing.TB, blocks []mdBlock, my *testbed.MySQLServer) (args []string, database, file string) {
	t.Helper()
	for _, b := range blocks {
		if b.info != "sh" {
			continue
		}
		for _, l := range strings.Split(b.body, "\n") {
			f := strings.Fields(l)
			if len(f) == 0 || f[0] != "mariadb" {
				continue
			}
			lt := -1
			for i, w := range f {
				if w == "<" {
					lt = i
				}
			}
			if lt < 2 || lt != len(f)-2 {
				t.Fatalf("README line %q: want mariadb -h HOST -P PORT -u USER DATABASE < FILE", l)
			}
			file = f[lt+1]
			seen := map[string]bool{}
			for i := 1; i < lt; i++ {
				switch w := f[i]; w {
				case "-h", "-P", "-u":
					if i+1 >= lt {
						t.Fatalf("README line %q: %s without a value", l, w)
					}
					seen[w] = true
					v := map[string]string{"-h": my.Host, "-P": strconv.Itoa(my.Port), "-u": my.User}[w]
					args = append(args, w, v)
					i++
				default:
					if strings.HasPrefix(w, "-") {
						args = append(args, w)
					} else {
						database = w
						args = append(args, w)
					}
				}
			}
			for _, k := range []string{"-h", "-P", "-u"} {
				if !seen[k] {
					t.Fatalf("README line %q lacks %s: the test rewrites -h, -P and -u, so each must be written out", l, k)
				}
			}
			if database == "" {
				t.Fatalf("README line %q names no database", l)
			}
			return args, database, file
		}
	}
	t.Fatal("README worked example: no ```sh block with the `mariadb ... < docs/examples/shop-mysql.sql` line that loads the sample")
	return nil, "", ""
}

// loadMySQLSample runs the README's load line against my: with the mariadb
// (or mysql) client when installed, else by executing the file's statements
// through the Go driver.
func loadMySQLSample(t testing.TB, my *testbed.MySQLServer, args []string, database, path string) {
	t.Helper()
	script, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the sample the README loads: %v", err)
	}
	client, err := exec.LookPath("mariadb")
	if err != nil {
		client, err = exec.LookPath("mysql")
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, client, append([]string{"--no-defaults"}, args...)...)
		cmd.Stdin = bytes.NewReader(script)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+my.Password)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s < %s: %v\n%s", client, strings.Join(args, " "), path, err, out)
		}
		t.Logf("loaded %s with %s", path, client)
		return
	}
	db, err := sql.Open("mysql", my.DSNFor(database)+"&multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(script)); err != nil {
		t.Fatalf("load %s through the driver: %v", path, err)
	}
	t.Logf("loaded %s through the Go driver (no mariadb or mysql client installed)", path)
}

// sampleTables are the tables docs/examples/shop-mysql.sql creates, children
// first; the test removes them (and flowgate's import marks) from the
// warehouse before and after, so the example starts as on a fresh machine.
var sampleTables = []string{"items", "orders", "customers"}

// TestReadmeWorkedExample runs the README's "Worked example" section as
// written, so the README and what flowgate does cannot drift apart:
//
//   - the ```sh line `mariadb -h H -P P -u U DB < FILE` loads the sample into
//     the throwaway MariaDB (DB is created when missing), with -h, -P and -u
//     rewritten to that server's;
//   - each ```sql block, in order, runs as one psql -X -v ON_ERROR_STOP=1 -f
//     invocation as admin against the real flowgate binary, after one
//     rewrite: in CREATE DATASOURCE ... TYPE postgres|mysql OPTIONS (...),
//     the values of host, port, user and password become the throwaway
//     server's (database names stay as written);
//   - each ```text block must appear in the stdout of the nearest ```sql
//     block above it (trailing blanks of each line ignored).
func TestReadmeWorkedExample(t *testing.T) {
	psqlBin := psqlPath(t)
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section, first := readmeSection(t, string(readme), "Worked example")
	blocks := fencedBlocks(t, section, first)

	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	servers := map[string]readmeServer{
		"postgres": {pg.Host, pg.Port, pg.User, pg.Password},
		"mysql":    {my.Host, my.Port, my.User, my.Password},
	}

	// The sample, loaded as the README says.
	args, myDB, file := loadLine(t, blocks, my)
	admin := my.Open(t, "")
	var exists string
	created := admin.QueryRow("SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?", myDB).Scan(&exists) == sql.ErrNoRows
	if created {
		if _, err := admin.Exec("CREATE DATABASE `" + myDB + "`"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", my.DSN())
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if created {
			_, err = db.Exec("DROP DATABASE IF EXISTS `" + myDB + "`")
		} else {
			for _, tbl := range sampleTables {
				if _, err = db.Exec("DROP TABLE IF EXISTS `" + myDB + "`.`" + tbl + "`"); err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Errorf("clean up the sample in %s: %v", myDB, err)
		}
	})
	loadMySQLSample(t, my, args, myDB, filepath.Join(root, file))

	// The SQL blocks, rewritten; the warehouse database is the postgres
	// datasource's.
	var sqlBlocks []mdBlock
	var pgDatabase string
	for i, b := range blocks {
		if b.info != "sql" {
			continue
		}
		var dbs map[string]string
		blocks[i].body, dbs = rewriteDatasources(t, b.body, servers)
		if d, ok := dbs["postgres"]; ok {
			pgDatabase = d
		}
		sqlBlocks = append(sqlBlocks, blocks[i])
	}
	if len(sqlBlocks) == 0 {
		t.Fatal("README worked example has no ```sql blocks")
	}
	if pgDatabase == "" {
		t.Fatal("README worked example defines no postgres datasource with a database option")
	}
	cleanWarehouse := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := pg.Connect(t, pgDatabase)
		stmt := "DROP TABLE IF EXISTS public." + strings.Join(sampleTables, ", public.") + ", public.flowgate_import_marks; DROP SCHEMA IF EXISTS flowgate CASCADE"
		if _, err := c.Exec(ctx, stmt); err != nil {
			t.Errorf("clean the warehouse %s: %v", pgDatabase, err)
		}
	}
	cleanWarehouse()
	t.Cleanup(cleanWarehouse)

	g := startGateway(t)
	dir := t.TempDir()
	var lastOut string
	ranSQL, checked := false, 0
	for _, b := range blocks {
		switch b.info {
		case "sql":
			path := filepath.Join(dir, fmt.Sprintf("readme-line-%d.sql", b.line))
			if err := os.WriteFile(path, []byte(b.body+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cmd := exec.CommandContext(ctx, psqlBin, "-X", "-v", "ON_ERROR_STOP=1",
				"-h", "127.0.0.1", "-p", strconv.Itoa(g.port), "-U", "admin", "-d", "flowgate", "-f", path)
			cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			began := time.Now()
			err := cmd.Run()
			cancel()
			t.Logf("README.md line %d: sql block ran in %s", b.line, time.Since(began).Round(time.Millisecond))
			if err != nil {
				t.Fatalf("README.md line %d: the sql block failed under psql -v ON_ERROR_STOP=1: %v\n--- block as run:\n%s\n--- stdout:\n%s\n--- stderr:\n%s\n--- flowgate log:\n%s",
					b.line, err, b.body, stdout.String(), stderr.String(), g.logs())
			}
			if strings.Contains(b.body, " WAIT;") {
				if !strings.Contains(stderr.String(), "NOTICE:") || !strings.Contains(stderr.String(), "completed") {
					t.Errorf("README.md line %d: RUN ... WAIT printed no progress NOTICEs ending in completed:\n%s", b.line, stderr.String())
				}
			}
			lastOut, ranSQL = stdout.String(), true
		case "text":
			if !ranSQL {
				t.Fatalf("README.md line %d: a text block before any sql block", b.line)
			}
			if want := normalizeOutput(b.body); !strings.Contains(normalizeOutput(lastOut), want) {
				t.Errorf("README.md line %d shows output psql does not print for the sql block above it.\n--- README shows:\n%s\n--- psql printed:\n%s", b.line, want, lastOut)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("README worked example shows no ```text output; the test has nothing to compare")
	}

	// The data moved: the warehouse's orders are the sample's.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var want, got int64
	if err := my.Open(t, myDB).QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if err := pg.Connect(t, pgDatabase).QueryRow(ctx, "SELECT count(*) FROM public.orders").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want == 0 || got != want {
		t.Errorf("warehouse has %d orders, the sample %d", got, want)
	}
}
