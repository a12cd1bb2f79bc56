package tests

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

// A Sakila-shaped MySQL schema: a foreign-key cycle (store <-> staff), a
// self-reference (staff.manager_id), ON DELETE SET NULL and ON UPDATE
// CASCADE, a composite primary key with two keys out (film_actor), ENUM,
// SET, YEAR, BLOB, a FULLTEXT index, and ON UPDATE CURRENT_TIMESTAMP on
// every table.
var sakilaMySQL = []string{
	`CREATE TABLE country (country_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, country varchar(50) NOT NULL,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)`,
	`CREATE TABLE city (city_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, city varchar(50) NOT NULL, country_id smallint unsigned NOT NULL,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, KEY idx_fk_country_id (country_id),
		CONSTRAINT fk_city_country FOREIGN KEY (country_id) REFERENCES country (country_id) ON DELETE RESTRICT ON UPDATE CASCADE)`,
	`CREATE TABLE staff (staff_id tinyint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, first_name varchar(45) NOT NULL,
		store_id tinyint unsigned NOT NULL, manager_id tinyint unsigned NULL, picture blob,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
		CONSTRAINT fk_staff_manager FOREIGN KEY (manager_id) REFERENCES staff (staff_id) ON DELETE SET NULL ON UPDATE CASCADE)`,
	`CREATE TABLE store (store_id tinyint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, manager_staff_id tinyint unsigned NOT NULL,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, UNIQUE KEY idx_unique_manager (manager_staff_id),
		CONSTRAINT fk_store_staff FOREIGN KEY (manager_staff_id) REFERENCES staff (staff_id) ON DELETE RESTRICT ON UPDATE CASCADE)`,
	`ALTER TABLE staff ADD CONSTRAINT fk_staff_store FOREIGN KEY (store_id) REFERENCES store (store_id) ON DELETE RESTRICT ON UPDATE CASCADE`,
	`CREATE TABLE actor (actor_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, first_name varchar(45) NOT NULL, last_name varchar(45) NOT NULL,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)`,
	`CREATE TABLE film (film_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, title varchar(128) NOT NULL, description text,
		release_year year DEFAULT NULL, rating enum('G','PG','PG-13','R','NC-17') DEFAULT 'G',
		special_features set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes') DEFAULT NULL,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, FULLTEXT KEY idx_title_description (title, description))`,
	`CREATE TABLE film_actor (actor_id smallint unsigned NOT NULL, film_id smallint unsigned NOT NULL,
		last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, PRIMARY KEY (actor_id, film_id), KEY idx_fk_film_id (film_id),
		CONSTRAINT fk_film_actor_actor FOREIGN KEY (actor_id) REFERENCES actor (actor_id) ON DELETE RESTRICT ON UPDATE CASCADE,
		CONSTRAINT fk_film_actor_film FOREIGN KEY (film_id) REFERENCES film (film_id) ON DELETE RESTRICT ON UPDATE CASCADE)`,
	`CREATE TABLE rental (rental_id int NOT NULL AUTO_INCREMENT PRIMARY KEY, film_id smallint unsigned NULL, staff_id tinyint unsigned NOT NULL,
		rented datetime NOT NULL, last_update timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
		CONSTRAINT fk_rental_film FOREIGN KEY (film_id) REFERENCES film (film_id) ON DELETE SET NULL ON UPDATE CASCADE,
		CONSTRAINT fk_rental_staff FOREIGN KEY (staff_id) REFERENCES staff (staff_id) ON DELETE RESTRICT ON UPDATE CASCADE)`,
}

const sakilaKeys = 8

// sakilaRows fills the tables; the cycle needs the checks off while it loads.
var sakilaRows = []string{
	"SET foreign_key_checks = 0",
	"INSERT INTO country (country_id, country, last_update) SELECT seq, CONCAT('Country ', seq), '2006-02-15 04:44:00' FROM seq_1_to_20",
	"INSERT INTO city (city_id, city, country_id, last_update) SELECT seq, CONCAT('City ', seq), 1 + seq % 20, '2006-02-15 04:45:25' FROM seq_1_to_300",
	"INSERT INTO staff VALUES (1, 'Mike', 1, NULL, x'89504e470d0a', '2006-02-15 03:57:16'), (2, 'Jon', 2, 1, NULL, '2006-02-15 03:57:16'), (3, 'Ann', 1, 2, x'00ff', '2006-02-15 03:57:16')",
	"INSERT INTO store VALUES (1, 1, '2006-02-15 04:57:12'), (2, 2, '2006-02-15 04:57:12')",
	"INSERT INTO actor (actor_id, first_name, last_name, last_update) SELECT seq, CONCAT('First', seq), CONCAT('Last', seq), '2006-02-15 04:34:33' FROM seq_1_to_200",
	`INSERT INTO film (film_id, title, description, release_year, rating, special_features, last_update)
		SELECT seq, CONCAT('FILM ', seq), CONCAT('A film about ', seq, ' things'), 2000 + seq % 10, ELT(1 + seq % 5, 'G','PG','PG-13','R','NC-17'),
			CASE seq % 4 WHEN 0 THEN NULL WHEN 1 THEN 'Trailers' WHEN 2 THEN 'Trailers,Deleted Scenes' ELSE '' END, '2006-02-15 05:03:42' FROM seq_1_to_1000`,
	"INSERT INTO film_actor (actor_id, film_id, last_update) SELECT 1 + seq % 200, seq, '2006-02-15 05:05:03' FROM seq_1_to_1000",
	"INSERT INTO film_actor (actor_id, film_id, last_update) SELECT 1 + (seq + 7) % 200, seq, '2006-02-15 05:05:03' FROM seq_1_to_1000",
	"INSERT INTO rental (rental_id, film_id, staff_id, rented, last_update) SELECT seq, 1 + seq % 1000, 1 + seq % 3, '2005-05-24 22:53:30', '2006-02-15 21:30:53' FROM seq_1_to_5000",
	"SET foreign_key_checks = 1",
}

var sakilaTables = []string{"actor", "city", "country", "film", "film_actor", "rental", "staff", "store"}

// fkRow is one foreign key column as information_schema shows it.
type fkRow struct{ Table, Column, RefTable, RefColumn, OnUpdate, OnDelete string }

func (r fkRow) String() string {
	return fmt.Sprintf("%s.%s -> %s.%s on update %s on delete %s", r.Table, r.Column, r.RefTable, r.RefColumn, r.OnUpdate, r.OnDelete)
}

func mysqlKeys(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
		FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r
			ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
		WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r fkRow
		if err := rows.Scan(&r.Table, &r.Column, &r.RefTable, &r.RefColumn, &r.OnUpdate, &r.OnDelete); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// pgKeys reads the keys from information_schema, and fails unless every
// one is validated.
func pgKeys(t *testing.T, c *pgx.Conn) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := c.Query(ctx, `SELECT kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name, rc.update_rule, rc.delete_rule
		FROM information_schema.referential_constraints rc
		JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = rc.constraint_schema AND kcu.constraint_name = rc.constraint_name
		JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_schema = rc.constraint_schema AND ccu.constraint_name = rc.constraint_name
		WHERE rc.constraint_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var k fkRow
		err := r.Scan(&k.Table, &k.Column, &k.RefTable, &k.RefColumn, &k.OnUpdate, &k.OnDelete)
		return k.String(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if n := count(t, c, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"); n != 0 {
		t.Fatalf("%d foreign keys are NOT VALID", n)
	}
	return got
}

func sqliteKeys(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, tbl := range sakilaTables {
		rows, err := db.Query(`SELECT "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?)`, tbl)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			k := fkRow{Table: tbl}
			if err := rows.Scan(&k.RefTable, &k.Column, &k.RefColumn, &k.OnUpdate, &k.OnDelete); err != nil {
				t.Fatal(err)
			}
			out = append(out, k.String())
		}
		rows.Close()
	}
	sort.Strings(out)
	return out
}

func sameKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(want) != sakilaKeys {
		t.Fatalf("the source has %d keys, want %d:\n%s", len(want), sakilaKeys, strings.Join(want, "\n"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s keys differ:\n got:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func allSucceeded(t *testing.T, what string, res map[string]ddlRow) {
	t.Helper()
	if len(res) != len(sakilaTables) {
		t.Fatalf("%s: %d tables: %v", what, len(res), sortedKeys(res))
	}
	for _, name := range sakilaTables {
		if r := res[name]; r.Status != "success" {
			t.Fatalf("%s: table %s: %s %s\n%s", what, name, r.Status, r.Message, deref(r.SQL))
		}
	}
}

func TestSakilaForeignKeysAndOnUpdateAcrossDialects(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	myDB := my.NewDatabase(t, "sakila")
	m := my.Open(t, myDB)
	m.SetMaxOpenConns(1) // SET foreign_key_checks is per session
	for _, s := range append(append([]string{}, sakilaMySQL...), sakilaRows...) {
		if _, err := m.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	srcKeys := mysqlKeys(t, m)
	pg := testbed.Postgres(t)
	pgDB := pg.NewDatabase(t, "sakila")
	p := pg.Connect(t, pgDB)
	my2DB := my.NewDatabase(t, "sakila_back")
	m2 := my.Open(t, my2DB)
	litePath := filepath.Join(t.TempDir(), "sakila.db")
	lite, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := lite.Exec("CREATE TABLE placeholder (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}

	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, pgDS("pg", pg, pgDB))
	mustExec(t, c, mysqlDatasourceSQL("back", my, my.Password, my2DB))
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(litePath)+")")

	// MySQL -> PostgreSQL: enums as types, sets as text[].
	mustExec(t, c, "CREATE DDL TASK to_pg FROM my TO pg EXCLUDE (placeholder) WITH (enum_as = 'type', set_as = 'array')")
	allSucceeded(t, "MySQL -> PostgreSQL", runDDLTask(t, c, "to_pg"))
	sameKeys(t, "PostgreSQL", pgKeys(t, p), srcKeys)
	mustExec(t, c, "CREATE SYNC JOB all_pg FROM DATABASE my TO DATABASE pg MODE BATCH WITH (algorithm = 'hashdiff', export_batch_rows = 500)")
	if r := runJob(t, c, "RUN SYNC JOB all_pg WAIT"); r.Status != "completed" {
		t.Fatalf("MySQL -> PostgreSQL job = %+v %s", r, deref(r.Message))
	}
	sameKeys(t, "PostgreSQL after the load", pgKeys(t, p), srcKeys)
	for _, tbl := range sakilaTables {
		var want int64
		if err := m.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := count(t, p, "SELECT count(*) FROM "+tbl); got != want || got == 0 {
			t.Fatalf("%s: %d rows on PostgreSQL, %d on MySQL", tbl, got, want)
		}
	}
	var rating, features string
	mustScan(t, p.QueryRow(ctx, "SELECT pg_typeof(rating)::text, special_features::text FROM film WHERE film_id = 2"), &rating, &features)
	if rating != "film_rating" || features != `{Trailers,"Deleted Scenes"}` {
		t.Fatalf("film 2 on PostgreSQL: rating type %s, special_features %s", rating, features)
	}
	if n := count(t, p, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'flowgate%'"); n != 0 {
		t.Fatalf("flowgate tables among the user's tables: %d", n)
	}
	// pre_action = 'truncate' with the cycle in place: the run empties the
	// tables (keys off first) and loads them again.
	mustExec(t, c, "ALTER SYNC JOB all_pg SET (pre_action = 'truncate', parallel_export = 4)")
	if r := runJob(t, c, "RUN SYNC JOB all_pg WAIT"); r.Status != "completed" {
		t.Fatalf("MySQL -> PostgreSQL again with truncate = %+v %s", r, deref(r.Message))
	}
	sameKeys(t, "PostgreSQL after the truncated load", pgKeys(t, p), srcKeys)
	if n := count(t, p, "SELECT count(*) FROM rental"); n != 5000 {
		t.Fatalf("rentals after the truncated load: %d", n)
	}
	// The trigger: an UPDATE that leaves last_update alone sets it.
	var before, after time.Time
	mustScan(t, p.QueryRow(ctx, "SELECT last_update FROM country WHERE country_id = 3"), &before)
	mustPG(t, p, "UPDATE country SET country = 'Renamed' WHERE country_id = 3")
	mustScan(t, p.QueryRow(ctx, "SELECT last_update FROM country WHERE country_id = 3"), &after)
	if before.Year() != 2006 || time.Since(after) > time.Hour {
		t.Fatalf("last_update on PostgreSQL: %s before, %s after the UPDATE", before, after)
	}
	// The actions hold: ON DELETE SET NULL, ON UPDATE CASCADE.
	n0 := count(t, p, "SELECT count(*) FROM rental WHERE film_id IS NULL")
	mustPG(t, p, "DELETE FROM film_actor WHERE film_id = 5", "DELETE FROM film WHERE film_id = 5", "UPDATE staff SET staff_id = 9 WHERE staff_id = 3")
	if n := count(t, p, "SELECT count(*) FROM rental WHERE film_id IS NULL"); n != n0+5 {
		t.Fatalf("rentals of the deleted film: %d set to NULL, want 5", n-n0)
	}
	if n := count(t, p, "SELECT count(*) FROM rental WHERE staff_id = 9"); n == 0 {
		t.Fatal("ON UPDATE CASCADE did not reach rental")
	}

	// PostgreSQL -> MySQL: keys, and the trigger becomes ON UPDATE again.
	mustExec(t, c, "CREATE DDL TASK to_back FROM pg TO back")
	allSucceeded(t, "PostgreSQL -> MySQL", runDDLTask(t, c, "to_back"))
	sameKeys(t, "MySQL", mysqlKeys(t, m2), srcKeys)
	var onUpdate int
	if err := m2.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND LOWER(EXTRA) LIKE 'on update%'").Scan(&onUpdate); err != nil || onUpdate != len(sakilaTables) {
		t.Fatalf("ON UPDATE columns on MySQL: %d (%v)", onUpdate, err)
	}
	mustExec(t, c, "CREATE SYNC JOB all_back FROM DATABASE pg TO DATABASE back MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB all_back WAIT"); r.Status != "completed" {
		t.Fatalf("PostgreSQL -> MySQL job = %+v %s", r, deref(r.Message))
	}
	sameKeys(t, "MySQL after the load", mysqlKeys(t, m2), srcKeys)
	mustExec(t, c, "ALTER SYNC JOB all_back SET (pre_action = 'truncate')")
	if r := runJob(t, c, "RUN SYNC JOB all_back WAIT"); r.Status != "completed" {
		t.Fatalf("PostgreSQL -> MySQL again with truncate = %+v %s", r, deref(r.Message))
	}
	sameKeys(t, "MySQL after the truncated load", mysqlKeys(t, m2), srcKeys)
	var rentals int
	if err := m2.QueryRow("SELECT COUNT(*) FROM rental").Scan(&rentals); err != nil || rentals != 5000 {
		t.Fatalf("rentals on MySQL after the truncated load: %d (%v)", rentals, err)
	}
	if _, err := m2.Exec("UPDATE actor SET first_name = 'X' WHERE actor_id = 1"); err != nil {
		t.Fatal(err)
	}
	var year int
	if err := m2.QueryRow("SELECT YEAR(last_update) FROM actor WHERE actor_id = 1").Scan(&year); err != nil || year < 2025 {
		t.Fatalf("last_update on MySQL after an UPDATE: %d (%v)", year, err)
	}

	// MySQL -> SQLite: keys inline, a trigger per ON UPDATE column.
	mustExec(t, c, "CREATE DDL TASK to_lite FROM my TO lite")
	allSucceeded(t, "MySQL -> SQLite", runDDLTask(t, c, "to_lite"))
	sameKeys(t, "SQLite", sqliteKeys(t, lite), srcKeys)
	mustExec(t, c, "CREATE SYNC JOB all_lite FROM DATABASE my TO DATABASE lite EXCLUDE (placeholder) MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB all_lite WAIT"); r.Status != "completed" {
		t.Fatalf("MySQL -> SQLite job = %+v %s", r, deref(r.Message))
	}
	var fkErrors int
	if err := lite.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&fkErrors); err != nil || fkErrors != 0 {
		t.Fatalf("foreign key check on SQLite: %d (%v)", fkErrors, err)
	}
	if _, err := lite.Exec("UPDATE film SET title = 'NEW' WHERE film_id = 1"); err != nil {
		t.Fatal(err)
	}
	var lu string
	if err := lite.QueryRow("SELECT last_update FROM film WHERE film_id = 1").Scan(&lu); err != nil || strings.HasPrefix(lu, "2006") {
		t.Fatalf("last_update on SQLite after an UPDATE: %q (%v)", lu, err)
	}
}

// The default enum_as = 'check' and set_as = 'text' into PostgreSQL (the
// verification passes, the CHECK refuses a value outside the enum), and
// MySQL -> MySQL, where ON UPDATE CURRENT_TIMESTAMP stays a column
// attribute and the keys come across as they are.
func TestSakilaDefaultsAndMySQLToMySQL(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	myDB := my.NewDatabase(t, "sakila")
	m := my.Open(t, myDB)
	m.SetMaxOpenConns(1) // SET foreign_key_checks is per session
	for _, s := range append(append([]string{}, sakilaMySQL...), sakilaRows...) {
		if _, err := m.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	srcKeys := mysqlKeys(t, m)
	pg := testbed.Postgres(t)
	pgDB := pg.NewDatabase(t, "sakila_check")
	p := pg.Connect(t, pgDB)
	my2DB := my.NewDatabase(t, "sakila_copy")
	m2 := my.Open(t, my2DB)
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, pgDS("pg", pg, pgDB))
	mustExec(t, c, mysqlDatasourceSQL("copy", my, my.Password, my2DB))

	// MySQL -> PostgreSQL with the defaults.
	mustExec(t, c, "CREATE DDL TASK to_pg FROM my TO pg")
	allSucceeded(t, "MySQL -> PostgreSQL (defaults)", runDDLTask(t, c, "to_pg"))
	sameKeys(t, "PostgreSQL", pgKeys(t, p), srcKeys)
	mustExec(t, c, "CREATE SYNC JOB all_pg FROM DATABASE my TO DATABASE pg MODE BATCH WITH (algorithm = 'hashdiff', export_batch_rows = 400)")
	if r := runJob(t, c, "RUN SYNC JOB all_pg WAIT"); r.Status != "completed" {
		t.Fatalf("MySQL -> PostgreSQL job (enum_as check, set_as text) = %+v %s", r, deref(r.Message))
	}
	var rating, ratingType, features string
	mustScan(t, p.QueryRow(ctx, "SELECT rating, pg_typeof(rating)::text, special_features FROM film WHERE film_id = 2"), &rating, &ratingType, &features)
	if rating != "PG-13" || ratingType != "text" || features != "Trailers,Deleted Scenes" {
		t.Fatalf("film 2 on PostgreSQL: rating %q (%s), special_features %q", rating, ratingType, features)
	}
	if _, err := p.Exec(ctx, "UPDATE film SET rating = 'XXX' WHERE film_id = 2"); err == nil {
		t.Fatal("the CHECK for the enum accepted 'XXX'")
	} else {
		wantCode(t, err, "23514")
	}
	// A difference in a set column is seen by the verification: a copy of
	// film whose trigger drops a member of film 2's set as it loads.
	mustPG(t, p, "CREATE TABLE film_again (LIKE film INCLUDING ALL)",
		`CREATE FUNCTION drop_member() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.film_id = 2 THEN NEW.special_features := 'Trailers'; END IF; RETURN NEW; END $$`,
		"CREATE TRIGGER drop_member BEFORE INSERT ON film_again FOR EACH ROW EXECUTE FUNCTION drop_member()")
	mustExec(t, c, "CREATE SYNC JOB check_film FROM my.film TO pg.film_again MODE BATCH WITH (algorithm = 'hashdiff', export_batch_rows = 400)")
	if r := runJob(t, c, "RUN SYNC JOB check_film WAIT"); r.Status != "data_inconsistent" {
		t.Fatalf("a changed set value: %+v %s", r, deref(r.Message))
	} else if keys := rowsOf(t, c, "SELECT DISTINCT key FROM dataflow.run_diffs WHERE run_id = '"+r.RunID+"'"); strings.Join(keys, ",") != `["2"]` {
		t.Fatalf("differing keys %v, want film 2 only", keys)
	}

	// MySQL -> MySQL: the keys and the ON UPDATE attribute as they are.
	mustExec(t, c, "CREATE DDL TASK to_copy FROM my TO copy")
	allSucceeded(t, "MySQL -> MySQL", runDDLTask(t, c, "to_copy"))
	sameKeys(t, "MySQL copy", mysqlKeys(t, m2), srcKeys)
	var onUpdate int
	if err := m2.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND LOWER(EXTRA) LIKE 'on update current_timestamp%'").Scan(&onUpdate); err != nil || onUpdate != len(sakilaTables) {
		t.Fatalf("ON UPDATE columns on the MySQL copy: %d (%v)", onUpdate, err)
	}
	var triggers int
	if err := m2.QueryRow("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()").Scan(&triggers); err != nil || triggers != 0 {
		t.Fatalf("triggers on the MySQL copy: %d (%v)", triggers, err)
	}
	var colType string
	if err := m2.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'film' AND COLUMN_NAME = 'special_features'").Scan(&colType); err != nil ||
		colType != "set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes')" {
		t.Fatalf("special_features on the MySQL copy: %q (%v)", colType, err)
	}
	mustExec(t, c, "CREATE SYNC JOB all_copy FROM DATABASE my TO DATABASE copy MODE BATCH WITH (algorithm = 'hashdiff', export_batch_rows = 400)")
	if r := runJob(t, c, "RUN SYNC JOB all_copy WAIT"); r.Status != "completed" {
		t.Fatalf("MySQL -> MySQL job = %+v %s", r, deref(r.Message))
	}
	sameKeys(t, "MySQL copy after the load", mysqlKeys(t, m2), srcKeys)
	if _, err := m2.Exec("UPDATE store SET manager_staff_id = 3 WHERE store_id = 1"); err != nil {
		t.Fatal(err)
	}
	var year int
	if err := m2.QueryRow("SELECT YEAR(last_update) FROM store WHERE store_id = 1").Scan(&year); err != nil || year < 2025 {
		t.Fatalf("last_update on the MySQL copy after an UPDATE: %d (%v)", year, err)
	}
}
