// Package shopdata generates the sample shop database the README's worked
// example and `make demo` use: customers, orders and their items, with
// foreign keys and an updated_at timestamp. The same rows come out in two
// dialects, docs/examples/shop-mysql.sql and docs/examples/shop-sqlite.sql;
// TestFiles checks the checked-in files against this generator
// (`go test ./internal/shopdata -update` rewrites them).
package shopdata

import (
	"fmt"
	"strings"
	"time"
)

// Sizes of the generated tables. Items vary per order (1 to 4 lines).
const (
	Customers = 300
	Orders    = 2000
)

// Dialect is "mysql" or "sqlite".
type Dialect string

const (
	MySQL  Dialect = "mysql"
	SQLite Dialect = "sqlite"
)

// rng is a fixed xorshift64* generator, so the files never change with the
// Go release (math/rand's algorithms may).
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// intn is in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

var (
	firstNames = []string{"Anna", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
		"Kira", "Luis", "Maja", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Viktor",
		"Wen", "Xenia", "Yusuf", "Zoë"}
	lastNames = []string{"Adler", "Berg", "Costa", "Dubois", "Eriksson", "Fischer", "García", "Horvat",
		"Ivanova", "Jensen", "Kowalski", "Lind", "Müller", "Novak", "O'Brien", "Petrov", "Rossi", "Schmidt",
		"Tanaka", "Umarov", "Vogel", "Weber", "Yilmaz", "Zhang"}
	countries = []string{"DE", "FR", "NL", "PL", "SE", "ES", "IT", "AT", "GB", "US"}
	products  = []struct {
		name  string
		cents int
	}{
		{"Espresso beans 1 kg", 2490}, {"Filter coffee 500 g", 990}, {"Green tea 100 g", 650},
		{"Ceramic mug", 1200}, {"Travel mug", 1990}, {"Hand grinder", 5900}, {"Pour-over kettle", 4500},
		{"Paper filters (100)", 450}, {"Milk frother", 3490}, {"Espresso machine", 38900},
		{"Descaler", 899}, {"Tamper", 2250}, {"Cocoa powder 250 g", 575}, {"Oat milk 1 l", 249},
		{"Gift card", 2500}, {"Coffee scale", 2990},
	}
	statuses = []string{"new", "paid", "shipped", "shipped", "delivered", "delivered", "delivered", "delivered", "cancelled"}
)

type customer struct {
	id                   int
	name, email, country string
	created              time.Time
}

type order struct {
	id, customer     int
	status           string
	totalCents       int
	ordered, updated time.Time
}

type item struct {
	order, line, quantity, priceCents int
	product                           string
}

func generate() ([]customer, []order, []item) {
	r := rng(0x9E3779B97F4A7C15 ^ 20240101)
	for range 16 { // leave the seed's neighbourhood
		r.next()
	}
	start := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	var cs []customer
	for id := 1; id <= Customers; id++ {
		first, last := firstNames[r.intn(len(firstNames))], lastNames[r.intn(len(lastNames))]
		local := strings.ToLower(strings.NewReplacer("'", "", "é", "e", "ë", "e", "á", "a", "í", "i", "ü", "ue").Replace(first + "." + last))
		cs = append(cs, customer{id: id, name: first + " " + last, email: fmt.Sprintf("%s.%d@example.com", local, id),
			country: countries[r.intn(len(countries))],
			created: start.Add(time.Duration(r.intn(200*24*3600)) * time.Second)})
	}
	var os []order
	var is []item
	orderStart := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for id := 1; id <= Orders; id++ {
		// Orders come in time order: id follows ordered_at.
		ordered := orderStart.Add(time.Duration(id)*4*time.Hour + time.Duration(r.intn(4*3600))*time.Second)
		c := cs[r.intn(len(cs))]
		status := statuses[r.intn(len(statuses))]
		updated := ordered
		switch status {
		case "paid":
			updated = ordered.Add(time.Duration(5+r.intn(120)) * time.Minute)
		case "shipped", "cancelled":
			updated = ordered.Add(time.Duration(6+r.intn(48)) * time.Hour)
		case "delivered":
			updated = ordered.Add(time.Duration(48+r.intn(120)) * time.Hour)
		}
		o := order{id: id, customer: c.id, status: status, ordered: ordered, updated: updated}
		lines := 1 + r.intn(4)
		for line := 1; line <= lines; line++ {
			p := products[r.intn(len(products))]
			q := 1 + r.intn(3)
			is = append(is, item{order: id, line: line, quantity: q, priceCents: p.cents, product: p.name})
			o.totalCents += q * p.cents
		}
		os = append(os, o)
	}
	return cs, os, is
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func money(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func ts(t time.Time) string { return "'" + t.Format("2006-01-02 15:04:05") + "'" }

// inserts writes multi-row INSERTs of at most 500 rows each.
func inserts(b *strings.Builder, head string, rows []string) {
	for len(rows) > 0 {
		n := min(500, len(rows))
		b.WriteString(head + " VALUES\n")
		b.WriteString(strings.Join(rows[:n], ",\n"))
		b.WriteString(";\n")
		rows = rows[n:]
	}
}

const mysqlSchema = `SET NAMES utf8mb4;
SET time_zone = '+00:00';
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS customers;

CREATE TABLE customers (
  id int NOT NULL AUTO_INCREMENT,
  name varchar(100) NOT NULL,
  email varchar(200) NOT NULL,
  country char(2) NOT NULL,
  created_at datetime NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY customers_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE orders (
  id int NOT NULL AUTO_INCREMENT,
  customer_id int NOT NULL,
  status varchar(10) NOT NULL,
  total decimal(10,2) NOT NULL,
  ordered_at datetime NOT NULL,
  updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY orders_customer_id (customer_id),
  KEY orders_updated_at (updated_at),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE items (
  order_id int NOT NULL,
  line_no smallint NOT NULL,
  product varchar(60) NOT NULL,
  quantity int NOT NULL,
  unit_price decimal(8,2) NOT NULL,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

`

const sqliteSchema = `PRAGMA foreign_keys = ON;
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS customers;

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(200) NOT NULL,
  country CHAR(2) NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX customers_email ON customers (email);

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id),
  status VARCHAR(10) NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  ordered_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_updated_at ON orders (updated_at);

CREATE TABLE items (
  order_id INTEGER NOT NULL REFERENCES orders (id),
  line_no SMALLINT NOT NULL,
  product VARCHAR(60) NOT NULL,
  quantity INTEGER NOT NULL,
  unit_price DECIMAL(8,2) NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

BEGIN;
`

// SQL is the whole sample database as a script for d: drop and create the
// three tables, then insert every row.
func SQL(d Dialect) string {
	cs, os, is := generate()
	var b strings.Builder
	b.WriteString("-- flowgate sample data: a small shop (customers, orders, items), " + string(d) + " dialect.\n")
	b.WriteString(fmt.Sprintf("-- %d customers, %d orders, %d items; the same rows as shop-%s.sql.\n", len(cs), len(os), len(is), map[Dialect]string{MySQL: "sqlite", SQLite: "mysql"}[d]))
	b.WriteString("-- Generated by `go test ./internal/shopdata -update`; do not edit by hand.\n")
	switch d {
	case MySQL:
		b.WriteString("-- Load: mariadb -h 127.0.0.1 -P 3306 -u root test < docs/examples/shop-mysql.sql\n")
		b.WriteString("-- Timestamps are UTC.\n\n")
		b.WriteString(mysqlSchema)
	case SQLite:
		b.WriteString("-- make demo loads it into a new SQLite database (cmd/flowgate-demo).\n")
		b.WriteString("-- Timestamps are UTC.\n\n")
		b.WriteString(sqliteSchema)
	default:
		panic("shopdata: unknown dialect " + string(d))
	}
	var rows []string
	for _, c := range cs {
		rows = append(rows, fmt.Sprintf("(%d, %s, %s, %s, %s)", c.id, quote(c.name), quote(c.email), quote(c.country), ts(c.created)))
	}
	inserts(&b, "INSERT INTO customers (id, name, email, country, created_at)", rows)
	rows = rows[:0]
	for _, o := range os {
		rows = append(rows, fmt.Sprintf("(%d, %d, %s, %s, %s, %s)", o.id, o.customer, quote(o.status), money(o.totalCents), ts(o.ordered), ts(o.updated)))
	}
	inserts(&b, "INSERT INTO orders (id, customer_id, status, total, ordered_at, updated_at)", rows)
	rows = rows[:0]
	for _, it := range is {
		rows = append(rows, fmt.Sprintf("(%d, %d, %s, %d, %s)", it.order, it.line, quote(it.product), it.quantity, money(it.priceCents)))
	}
	inserts(&b, "INSERT INTO items (order_id, line_no, product, quantity, unit_price)", rows)
	if d == SQLite {
		b.WriteString("COMMIT;\n")
	}
	return b.String()
}
