package parser

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// offsets returns at(sub) = the byte offset of the first occurrence of sub in sql,
// and at(sub, n) = of the n-th (1-based); it panics when there is none, so a test
// can't silently point nowhere.
func offsets(sql string) func(sub string, n ...int) int {
	return func(sub string, n ...int) int {
		k := 1
		if len(n) > 0 {
			k = n[0]
		}
		off := -1
		for from := 0; k > 0; k-- {
			i := strings.Index(sql[from:], sub)
			if i < 0 {
				panic(fmt.Sprintf("%q not in %q", sub, sql))
			}
			off = from + i
			from = off + 1
		}
		return off
	}
}

type posFunc = func(sub string, n ...int) int

func TestParseSections3to5(t *testing.T) {
	tests := []struct {
		sql  string
		want func(at posFunc) Statement
	}{
		// Section 3: IMPORT / REFRESH TABLES.
		{`IMPORT TABLES FROM pg1`, func(at posFunc) Statement {
			return &ImportTables{Datasource: "pg1", DatasourcePos: at("pg1")}
		}},
		{`import tables from "Shop" schema Sales (Orders, "Items");`, func(at posFunc) Statement {
			return &ImportTables{Datasource: "Shop", DatasourcePos: at(`"Shop"`), Schema: "sales", SchemaPos: at("Sales"),
				Tables: []string{"orders", "Items"}, TablePos: []int{at("Orders"), at(`"Items"`)}}
		}},
		{`IMPORT TABLES FROM my (t1)`, func(at posFunc) Statement {
			return &ImportTables{Datasource: "my", DatasourcePos: at("my"), Tables: []string{"t1"}, TablePos: []int{at("t1")}}
		}},
		{`REFRESH TABLES FROM pg1`, func(at posFunc) Statement {
			return &RefreshTables{Datasource: "pg1", DatasourcePos: at("pg1")}
		}},
		{`REFRESH TABLES FROM pg1 SCHEMA s (a, b)`, func(at posFunc) Statement {
			return &RefreshTables{Datasource: "pg1", DatasourcePos: at("pg1"), Schema: "s", SchemaPos: at("s ("),
				Tables: []string{"a", "b"}, TablePos: []int{at("a,"), at("b)")}}
		}},
		// CREATE TABLE MODEL.
		{`CREATE TABLE MODEL t (a int)`, func(at posFunc) Statement {
			return &CreateTableModel{Name: "t", NamePos: at("t "), Columns: []ColumnDef{
				{Name: "a", NamePos: at("a "), Type: TypeName{Name: "int", Text: "int", Pos: at("int")}}}}
		}},
		{`CREATE TABLE MODEL IF NOT EXISTS Public."Orders" (
			id BIGINT NOT NULL PRIMARY KEY COMMENT 'key',
			"Name" character varying(64) NULL DEFAULT 'x''y',
			price numeric(10, 2) default -1.5 not null,
			at timestamp(3) with time zone DEFAULT now(),
			tags text[],
			n int unsigned,
			d double precision default (1 + 2) * 3 comment 'd',
			b "char" DEFAULT NULL
		) CASE SENSITIVE TITLE 'Orders' COMMENT 'all orders'`, func(at posFunc) Statement {
			return &CreateTableModel{IfNotExists: true, Schema: "public", Name: "Orders", NamePos: at("Public"),
				Columns: []ColumnDef{
					{Name: "id", NamePos: at("id "), Type: TypeName{Name: "bigint", Text: "BIGINT", Pos: at("BIGINT")},
						NotNull: true, PrimaryKey: true, Comment: sp("key")},
					{Name: "Name", NamePos: at(`"Name"`), Type: TypeName{Name: "character varying", Mods: []int{64}, Text: "character varying(64)", Pos: at("character")},
						Null: true, Default: sp(`'x''y'`), DefaultPos: at(`'x''y'`)},
					{Name: "price", NamePos: at("price"), Type: TypeName{Name: "numeric", Mods: []int{10, 2}, Text: "numeric(10, 2)", Pos: at("numeric")},
						NotNull: true, Default: sp("-1.5"), DefaultPos: at("-1.5")},
					{Name: "at", NamePos: at("at "), Type: TypeName{Name: "timestamp with time zone", Mods: []int{3}, Text: "timestamp(3) with time zone", Pos: at("timestamp")},
						Default: sp("now()"), DefaultPos: at("now()")},
					{Name: "tags", NamePos: at("tags"), Type: TypeName{Name: "text", Array: true, Text: "text[]", Pos: at("text[]")}},
					{Name: "n", NamePos: at("n int"), Type: TypeName{Name: "int", Unsigned: true, Text: "int unsigned", Pos: at("int unsigned")}},
					{Name: "d", NamePos: at("d double"), Type: TypeName{Name: "double precision", Text: "double precision", Pos: at("double")},
						Default: sp("(1 + 2) * 3"), DefaultPos: at("(1 + 2)"), Comment: sp("d")},
					{Name: "b", NamePos: at(`b "char"`), Type: TypeName{Name: "char", Text: `"char"`, Pos: at(`"char"`)},
						Default: sp("NULL"), DefaultPos: at("DEFAULT NULL") + 8},
				},
				CaseSensitive: true, Title: sp("Orders"), Comment: sp("all orders")}
		}},
		{`CREATE TABLE MODEL s.lineitem (l_orderkey int4 not null, l_linenumber integer NOT NULL, l_shipdate date, PRIMARY KEY (l_orderkey, l_linenumber)) COMMENT 'c' TITLE 't'`, func(at posFunc) Statement {
			return &CreateTableModel{Schema: "s", Name: "lineitem", NamePos: at("s.lineitem"), Columns: []ColumnDef{
				{Name: "l_orderkey", NamePos: at("l_orderkey"), Type: TypeName{Name: "int4", Text: "int4", Pos: at("int4")}, NotNull: true},
				{Name: "l_linenumber", NamePos: at("l_linenumber"), Type: TypeName{Name: "integer", Text: "integer", Pos: at("integer")}, NotNull: true},
				{Name: "l_shipdate", NamePos: at("l_shipdate"), Type: TypeName{Name: "date", Text: "date", Pos: at("date,")}},
			}, PrimaryKey: []string{"l_orderkey", "l_linenumber"}, PrimaryKeyPos: at("PRIMARY"), Title: sp("t"), Comment: sp("c")}
		}},
		{`CREATE TABLE MODEL t (CONSTRAINT pk PRIMARY KEY (a), a VARCHAR(10) ARRAY, b TIME WITHOUT TIME ZONE, c tinyint(1) UNSIGNED, e pg_catalog.int8, f national character varying(5), g decimal(5,-2), h int[3][])`, func(at posFunc) Statement {
			return &CreateTableModel{Name: "t", NamePos: at("t ("), PrimaryKey: []string{"a"}, PrimaryKeyPos: at("PRIMARY"), Columns: []ColumnDef{
				{Name: "a", NamePos: at("a VARCHAR"), Type: TypeName{Name: "varchar", Mods: []int{10}, Array: true, Text: "VARCHAR(10) ARRAY", Pos: at("VARCHAR")}},
				{Name: "b", NamePos: at("b TIME"), Type: TypeName{Name: "time without time zone", Text: "TIME WITHOUT TIME ZONE", Pos: at("TIME")}},
				{Name: "c", NamePos: at("c tinyint"), Type: TypeName{Name: "tinyint", Mods: []int{1}, Unsigned: true, Text: "tinyint(1) UNSIGNED", Pos: at("tinyint")}},
				{Name: "e", NamePos: at("e pg_"), Type: TypeName{Name: "pg_catalog.int8", Text: "pg_catalog.int8", Pos: at("pg_catalog")}},
				{Name: "f", NamePos: at("f national"), Type: TypeName{Name: "national character varying", Mods: []int{5}, Text: "national character varying(5)", Pos: at("national")}},
				{Name: "g", NamePos: at("g decimal"), Type: TypeName{Name: "decimal", Mods: []int{5, -2}, Text: "decimal(5,-2)", Pos: at("decimal")}},
				{Name: "h", NamePos: at("h int"), Type: TypeName{Name: "int", Array: true, Text: "int[3][]", Pos: at("int[")}},
			}}
		}},
		// ALTER TABLE MODEL.
		{`ALTER TABLE MODEL t ADD COLUMN c varchar(20) NOT NULL DEFAULT '' COMMENT 'cc'`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterAddColumn, Column: ColumnDef{
				Name: "c", NamePos: at("c "), Type: TypeName{Name: "varchar", Mods: []int{20}, Text: "varchar(20)", Pos: at("varchar")},
				NotNull: true, Default: sp("''"), DefaultPos: at("''"), Comment: sp("cc")}}
		}},
		{`ALTER TABLE MODEL s.t ADD c int AFTER b`, func(at posFunc) Statement {
			return &AlterTableModel{Schema: "s", Name: "t", NamePos: at("s.t"), Action: AlterAddColumn,
				Column: ColumnDef{Name: "c", NamePos: at("c "), Type: TypeName{Name: "int", Text: "int", Pos: at("int")}},
				After:  "b", AfterPos: at("b")}
		}},
		{`ALTER TABLE MODEL t ADD c int FIRST`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterAddColumn,
				Column: ColumnDef{Name: "c", NamePos: at("c "), Type: TypeName{Name: "int", Text: "int", Pos: at("int")}}, First: true}
		}},
		{`ALTER TABLE MODEL t ALTER COLUMN c TYPE bigint`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterColumnType, ColumnName: "c", ColumnPos: at("c "),
				NewType: TypeName{Name: "bigint", Text: "bigint", Pos: at("bigint")}}
		}},
		{`ALTER TABLE MODEL t ALTER c SET DATA TYPE numeric(12,4)`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterColumnType, ColumnName: "c", ColumnPos: at("c "),
				NewType: TypeName{Name: "numeric", Mods: []int{12, 4}, Text: "numeric(12,4)", Pos: at("numeric")}}
		}},
		{`ALTER TABLE MODEL t DROP COLUMN "C"`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterDropColumn, ColumnName: "C", ColumnPos: at(`"C"`)}
		}},
		{`ALTER TABLE MODEL t DROP c`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterDropColumn, ColumnName: "c", ColumnPos: at("c")}
		}},
		{`ALTER TABLE MODEL t RENAME COLUMN a TO b`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterRenameColumn, ColumnName: "a", ColumnPos: at("a "), NewName: "b", NewNamePos: at("b")}
		}},
		{`ALTER TABLE MODEL t MOVE COLUMN c AFTER d`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterMoveColumn, ColumnName: "c", ColumnPos: at("c "), After: "d", AfterPos: at("d")}
		}},
		{`ALTER TABLE MODEL t MOVE c FIRST`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterMoveColumn, ColumnName: "c", ColumnPos: at("c "), First: true}
		}},
		{`ALTER TABLE MODEL t COMMENT 'x'`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterSetComment, Text2: sp("x")}
		}},
		{`ALTER TABLE MODEL t SET TITLE 'Orders'`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterSetTitle, Text2: sp("Orders")}
		}},
		{`ALTER TABLE MODEL t TITLE ''`, func(at posFunc) Statement {
			return &AlterTableModel{Name: "t", NamePos: at("t "), Action: AlterSetTitle, Text2: sp("")}
		}},
		// DROP / ASSOCIATE / DISSOCIATE.
		{`DROP TABLE MODEL t`, func(at posFunc) Statement { return &DropTableModel{Name: "t", NamePos: at("t")} }},
		{`DROP TABLE MODEL IF EXISTS s."T"`, func(at posFunc) Statement {
			return &DropTableModel{IfExists: true, Schema: "s", Name: "T", NamePos: at("s.")}
		}},
		{`ASSOCIATE TABLE t WITH pg1`, func(at posFunc) Statement {
			return &AssociateTable{Name: "t", NamePos: at("t "), Datasource: "pg1", DatasourcePos: at("pg1")}
		}},
		{`ASSOCIATE TABLE MODEL s.t WITH pg1`, func(at posFunc) Statement {
			return &AssociateTable{Schema: "s", Name: "t", NamePos: at("s.t"), Datasource: "pg1", DatasourcePos: at("pg1")}
		}},
		{`ASSOCIATE TABLE model WITH pg1`, func(at posFunc) Statement {
			return &AssociateTable{Name: "model", NamePos: at("model"), Datasource: "pg1", DatasourcePos: at("pg1")}
		}},
		{`DISSOCIATE TABLE s.t FROM pg1`, func(at posFunc) Statement {
			return &DissociateTable{Schema: "s", Name: "t", NamePos: at("s.t"), Datasource: "pg1", DatasourcePos: at("pg1")}
		}},

		// Section 4: DDL tasks.
		{`CREATE DDL TASK shop_to_dw FROM shop TO dw SCHEMA public WITH (create_if_missing = on, indexes = on, primary_keys = on)`, func(at posFunc) Statement {
			return &CreateDDLTask{Name: "shop_to_dw", NamePos: at("shop_to_dw"), SourceDS: "shop", SourceDSPos: at("shop "),
				TargetDS: "dw", TargetDSPos: at("dw SCHEMA"), TargetSchema: "public", TargetSchemaPos: at("public"),
				With: []Option{
					{Key: "create_if_missing", Value: "on", Kind: ValWord, KeyPos: at("create_if"), ValuePos: at("on,")},
					{Key: "indexes", Value: "on", Kind: ValWord, KeyPos: at("indexes"), ValuePos: at("on,", 2)},
					{Key: "primary_keys", Value: "on", Kind: ValWord, KeyPos: at("primary_keys"), ValuePos: at("on)")},
				}}
		}},
		{`CREATE DDL TASK IF NOT EXISTS t FROM my SCHEMA shop TO pg SCHEMA dw EXCLUDE (logs) TABLES (a, "B") WITH (parallel = 4, recreate = off, run_now = 'off')`, func(at posFunc) Statement {
			return &CreateDDLTask{IfNotExists: true, Name: "t", NamePos: at("t FROM"), SourceDS: "my", SourceDSPos: at("my"),
				SourceSchema: "shop", SourceSchemaPos: at("shop"), TargetDS: "pg", TargetDSPos: at("pg"), TargetSchema: "dw", TargetSchemaPos: at("dw"),
				Tables: []string{"a", "B"}, TablePos: []int{at("a,"), at(`"B"`)}, Exclude: []string{"logs"}, ExcludePos: []int{at("logs")},
				With: []Option{
					{Key: "parallel", Value: "4", Kind: ValNumber, KeyPos: at("parallel"), ValuePos: at("4")},
					{Key: "recreate", Value: "off", Kind: ValWord, KeyPos: at("recreate"), ValuePos: at("off")},
					{Key: "run_now", Value: "off", Kind: ValString, KeyPos: at("run_now"), ValuePos: at("'off'")},
				}}
		}},
		{`CREATE DDL TASK t FROM a TO b`, func(at posFunc) Statement {
			return &CreateDDLTask{Name: "t", NamePos: at("t "), SourceDS: "a", SourceDSPos: at("a "), TargetDS: "b", TargetDSPos: at("b")}
		}},
		{`RUN DDL TASK t`, func(at posFunc) Statement { return &RunDDLTask{Name: "t", NamePos: at("t")} }},
		{`ALTER DDL TASK t SET (indexes = off)`, func(at posFunc) Statement {
			return &AlterDDLTask{Name: "t", NamePos: at("t "), With: []Option{{Key: "indexes", Value: "off", Kind: ValWord, KeyPos: at("indexes"), ValuePos: at("off")}}}
		}},
		{`DROP DDL TASK t`, func(at posFunc) Statement { return &DropDDLTask{Name: "t", NamePos: at("t")} }},
		{`DROP DDL TASK IF EXISTS t`, func(at posFunc) Statement { return &DropDDLTask{IfExists: true, Name: "t", NamePos: at("t")} }},

		// Section 5: sync jobs.
		{`CREATE SYNC JOB orders FROM shop.orders TO dw.public.orders MODE BATCH WITH (algorithm = 'hashdiff')`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "orders", NamePos: at("orders"), JobKind: "table",
				From: TableRef{Datasource: "shop", Table: "orders", Pos: at("shop"), TablePos: at("orders", 2)},
				To:   TableRef{Datasource: "dw", Schema: "public", Table: "orders", Pos: at("dw"), SchemaPos: at("public"), TablePos: at("orders", 3)},
				Mode: "batch", ModePos: at("BATCH"),
				With: []Option{{Key: "algorithm", Value: "hashdiff", KeyPos: at("algorithm"), ValuePos: at("'hashdiff'")}}}
		}},
		{`CREATE SYNC JOB IF NOT EXISTS li FROM pg.public.lineitem TO my.lineitem COLUMNS (l_orderkey AS k, l_shipdate) MODE SCAN INCREMENTAL ON l_shipdate WHERE LAST 12 MONTHS ON l_shipdate TARGET WHERE 'k > 0' SCHEDULE CRON '*/5 * * * *' WITH (pre_action = truncate, threads = 2)`, func(at posFunc) Statement {
			return &CreateSyncJob{IfNotExists: true, Name: "li", NamePos: at("li "), JobKind: "table",
				From:    TableRef{Datasource: "pg", Schema: "public", Table: "lineitem", Pos: at("pg."), SchemaPos: at("public"), TablePos: at("lineitem")},
				To:      TableRef{Datasource: "my", Table: "lineitem", Pos: at("my."), TablePos: at("lineitem", 2)},
				Columns: []ColumnMap{{Source: "l_orderkey", Target: "k", Pos: at("l_orderkey"), TargetPos: at("k,")}, {Source: "l_shipdate", Target: "l_shipdate", Pos: at("l_shipdate"), TargetPos: at("l_shipdate")}},
				Mode:    "scan", ModePos: at("SCAN"), IncrementalOn: "l_shipdate", IncrementalOnPos: at("l_shipdate", 2),
				WhereLast:   &LastWindow{N: 12, Unit: "months", Column: "l_shipdate", NPos: at("12"), ColumnPos: at("l_shipdate", 3)},
				TargetWhere: sp("k > 0"), TargetWherePos: at("k > 0"),
				Schedule: &Schedule{Kind: ScheduleCron, Expr: "*/5 * * * *", ExprPos: at("*/5"), Pos: at("CRON")},
				With: []Option{
					{Key: "pre_action", Value: "truncate", Kind: ValWord, KeyPos: at("pre_action"), ValuePos: at("truncate")},
					{Key: "threads", Value: "2", Kind: ValNumber, KeyPos: at("threads"), ValuePos: at("2)")},
				}}
		}},
		// Clauses in another order; WHERE with an escaped quote; SCHEDULE ONCE.
		{`create sync job j from a.s.t to b.t with (limit = 10) schedule once where 'l_shipdate < ''2020-01-01''' mode cdc`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "j", NamePos: at("j "), JobKind: "table",
				From: TableRef{Datasource: "a", Schema: "s", Table: "t", Pos: at("a.s"), SchemaPos: at("s.t"), TablePos: at("t to")},
				To:   TableRef{Datasource: "b", Table: "t", Pos: at("b.t"), TablePos: at("t with")},
				Mode: "cdc", ModePos: at("cdc"),
				Where: sp("l_shipdate < '2020-01-01'"), WherePos: at("l_shipdate"),
				Schedule: &Schedule{Kind: ScheduleOnce, Pos: at("once")},
				With:     []Option{{Key: "limit", Value: "10", Kind: ValNumber, KeyPos: at("limit"), ValuePos: at("10")}}}
		}},
		// Section 7: a job FROM a message-queue datasource.
		{`CREATE SYNC JOB shop_mq FROM bus TOPICS ('shop', 'shop.extra') TO DATABASE dw SCHEMA public TABLES (orders AS orders_copy) MODE CDC WITH (message_format = 'canal')`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "shop_mq", NamePos: at("shop_mq"), JobKind: "database",
				From:   TableRef{Datasource: "bus", Pos: at("bus")},
				Topics: []string{"shop", "shop.extra"}, TopicsPos: []int{at("shop'"), at("shop.extra")},
				To:     TableRef{Datasource: "dw", Schema: "public", Pos: at("dw"), SchemaPos: at("public")},
				Tables: []ColumnMap{{Source: "orders", Target: "orders_copy", Pos: at("orders "), TargetPos: at("orders_copy")}},
				Mode:   "cdc", ModePos: at("CDC"),
				With: []Option{{Key: "message_format", Value: "canal", KeyPos: at("message_format"), ValuePos: at("'canal'")}}}
		}},
		{`ALTER SYNC JOB shop_mq SET TOPICS ('shop', 'shop_extra')`, func(at posFunc) Statement {
			return &AlterSyncJob{Name: "shop_mq", NamePos: at("shop_mq"), Topics: []string{"shop", "shop_extra"}, TopicsPos: []int{at("shop'"), at("shop_extra")}}
		}},
		{`reset sync job "Shop" position to timestamp '2024-05-01 00:00:00+00'`, func(at posFunc) Statement {
			return &ResetSyncJob{Name: "Shop", NamePos: at(`"Shop"`), Timestamp: "2024-05-01 00:00:00+00", TimestampPos: at("2024")}
		}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE LAST 1 year ON d SCHEDULE EVERY '30 seconds'`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "j", NamePos: at("j "), JobKind: "table",
				From: TableRef{Datasource: "a", Table: "t", Pos: at("a.t"), TablePos: at("t TO")},
				To:   TableRef{Datasource: "b", Table: "t", Pos: at("b.t"), TablePos: at("t MODE")},
				Mode: "batch", ModePos: at("BATCH"),
				WhereLast: &LastWindow{N: 1, Unit: "years", Column: "d", NPos: at("1 "), ColumnPos: at("d S")},
				Schedule:  &Schedule{Kind: ScheduleEvery, Expr: "30 seconds", ExprPos: at("30"), Pos: at("EVERY")}}
		}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE SCAN WHERE LAST 7 DAY ON d SCHEDULE EVERY 5 Minutes`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "j", NamePos: at("j "), JobKind: "table",
				From: TableRef{Datasource: "a", Table: "t", Pos: at("a.t"), TablePos: at("t TO")},
				To:   TableRef{Datasource: "b", Table: "t", Pos: at("b.t"), TablePos: at("t MODE")},
				Mode: "scan", ModePos: at("SCAN"),
				WhereLast: &LastWindow{N: 7, Unit: "days", Column: "d", NPos: at("7"), ColumnPos: at("d S")},
				Schedule:  &Schedule{Kind: ScheduleEvery, Expr: "5 minutes", ExprPos: at("5 M"), Pos: at("EVERY")}}
		}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH SCHEDULE NONE`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "j", NamePos: at("j "), JobKind: "table",
				From: TableRef{Datasource: "a", Table: "t", Pos: at("a.t"), TablePos: at("t TO")},
				To:   TableRef{Datasource: "b", Table: "t", Pos: at("b.t"), TablePos: at("t MODE")},
				Mode: "batch", ModePos: at("BATCH")}
		}},
		// A datasource called "database" is still a table job.
		{`CREATE SYNC JOB j FROM database.t TO b.t MODE BATCH`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "j", NamePos: at("j "), JobKind: "table",
				From: TableRef{Datasource: "database", Table: "t", Pos: at("database"), TablePos: at("t TO")},
				To:   TableRef{Datasource: "b", Table: "t", Pos: at("b.t"), TablePos: at("t MODE")},
				Mode: "batch", ModePos: at("BATCH")}
		}},
		{`CREATE SYNC JOB whole FROM DATABASE shop SCHEMA sales TO DATABASE dw SCHEMA ods TABLES (orders, items AS order_items) EXCLUDE (logs, tmp) MODE BATCH`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "whole", NamePos: at("whole"), JobKind: "database",
				From:    TableRef{Datasource: "shop", Schema: "sales", Pos: at("shop"), SchemaPos: at("sales")},
				To:      TableRef{Datasource: "dw", Schema: "ods", Pos: at("dw"), SchemaPos: at("ods")},
				Tables:  []ColumnMap{{Source: "orders", Target: "orders", Pos: at("orders"), TargetPos: at("orders")}, {Source: "items", Target: "order_items", Pos: at("items"), TargetPos: at("order_items")}},
				Exclude: []string{"logs", "tmp"}, ExcludePos: []int{at("logs"), at("tmp")},
				Mode: "batch", ModePos: at("BATCH")}
		}},
		{`CREATE SYNC JOB d FROM DATABASE my TO DATABASE pg MODE CDC WITH (restart_strategy = 'fixed-delay', checkpoint_interval = 60)`, func(at posFunc) Statement {
			return &CreateSyncJob{Name: "d", NamePos: at("d "), JobKind: "database",
				From: TableRef{Datasource: "my", Pos: at("my")}, To: TableRef{Datasource: "pg", Pos: at("pg")},
				Mode: "cdc", ModePos: at("CDC"),
				With: []Option{
					{Key: "restart_strategy", Value: "fixed-delay", KeyPos: at("restart_strategy"), ValuePos: at("'fixed-delay'")},
					{Key: "checkpoint_interval", Value: "60", Kind: ValNumber, KeyPos: at("checkpoint_interval"), ValuePos: at("60")},
				}}
		}},
		{`ALTER SYNC JOB j SET (threads = 4, verbose = true)`, func(at posFunc) Statement {
			return &AlterSyncJob{Name: "j", NamePos: at("j "), With: []Option{
				{Key: "threads", Value: "4", Kind: ValNumber, KeyPos: at("threads"), ValuePos: at("4")},
				{Key: "verbose", Value: "true", Kind: ValWord, KeyPos: at("verbose"), ValuePos: at("true")}}}
		}},
		{`ALTER SYNC JOB j SCHEDULE CRON '0 3 * * *'`, func(at posFunc) Statement {
			return &AlterSyncJob{Name: "j", NamePos: at("j "), Schedule: &Schedule{Kind: ScheduleCron, Expr: "0 3 * * *", ExprPos: at("0 3"), Pos: at("CRON")}}
		}},
		{`ALTER SYNC JOB j SCHEDULE NONE`, func(at posFunc) Statement {
			return &AlterSyncJob{Name: "j", NamePos: at("j "), Schedule: &Schedule{Kind: ScheduleNone, Pos: at("NONE")}}
		}},
		{`ALTER SYNC JOB j SET SCHEDULE ONCE`, func(at posFunc) Statement {
			return &AlterSyncJob{Name: "j", NamePos: at("j "), Schedule: &Schedule{Kind: ScheduleOnce, Pos: at("ONCE")}}
		}},
		{`ALTER SYNC JOB j SCHEDULE EVERY $$1 hour$$ SET (limit = 5)`, func(at posFunc) Statement {
			return &AlterSyncJob{Name: "j", NamePos: at("j "), Schedule: &Schedule{Kind: ScheduleEvery, Expr: "1 hour", ExprPos: at("1 hour"), Pos: at("EVERY")},
				With: []Option{{Key: "limit", Value: "5", Kind: ValNumber, KeyPos: at("limit"), ValuePos: at("5")}}}
		}},
		{`DROP SYNC JOB j`, func(at posFunc) Statement { return &DropSyncJob{Name: "j", NamePos: at("j")} }},
		{`DROP SYNC JOB IF EXISTS j`, func(at posFunc) Statement { return &DropSyncJob{IfExists: true, Name: "j", NamePos: at("j")} }},
		{`RUN SYNC JOB j`, func(at posFunc) Statement { return &RunSyncJob{Name: "j", NamePos: at("j")} }},
		{`  run sync job "J" WAIT;`, func(at posFunc) Statement { return &RunSyncJob{Name: "J", NamePos: at(`"J"`), Wait: true} }},
		{`STOP SYNC JOB j`, func(at posFunc) Statement { return &StopSyncJob{Name: "j", NamePos: at("j")} }},
		{`RESTART SYNC JOB j`, func(at posFunc) Statement { return &RestartSyncJob{Name: "j", NamePos: at("j")} }},
		{`restart sync job "J" from snapshot`, func(at posFunc) Statement {
			return &RestartSyncJob{Name: "J", NamePos: at(`"J"`), FromSnapshot: true}
		}},
		{`PAUSE SYNC JOB j`, func(at posFunc) Statement { return &PauseSyncJob{Name: "j", NamePos: at("j")} }},
		{`RESUME SYNC JOB j`, func(at posFunc) Statement { return &ResumeSyncJob{Name: "j", NamePos: at("j")} }},
		{`RETRY RUN 'r1'`, func(at posFunc) Statement { return &RetryRun{RunID: "r1", RunIDPos: at("'r1'")} }},
		{`RETRY RUN 'r1' STAGE 'ImportTable'`, func(at posFunc) Statement {
			return &RetryRun{RunID: "r1", RunIDPos: at("'r1'"), Stage: sp("ImportTable"), StagePos: at("'Import")}
		}},
		{`RETRY RUN 42 STAGE ExportTable`, func(at posFunc) Statement {
			return &RetryRun{RunID: "42", RunIDPos: at("42"), Stage: sp("ExportTable"), StagePos: at("Export")}
		}},
		{`CLEAN SOURCE DATA FOR RUN 'r1'`, func(at posFunc) Statement { return &CleanSourceData{RunID: "r1", RunIDPos: at("'r1'")} }},
		{`CLEAN SOURCE DATA FOR RUN '0b6f' WHERE 'l_shipdate < ''2020-01-01''' BATCH 10000`, func(at posFunc) Statement {
			return &CleanSourceData{RunID: "0b6f", RunIDPos: at("'0b6f'"), Where: sp("l_shipdate < '2020-01-01'"), WherePos: at("l_shipdate"), Batch: 10000, BatchPos: at("10000")}
		}},
		{`clean source data for run 'r' force batch 5 where E'a = \'x\''`, func(at posFunc) Statement {
			return &CleanSourceData{RunID: "r", RunIDPos: at("'r'"), Where: sp("a = 'x'"), WherePos: at("a = "), Batch: 5, BatchPos: at("5"), Force: true}
		}},
		{`CLEAN EXPORT FILES FOR RUN 'r1'`, func(at posFunc) Statement { return &CleanExportFiles{RunID: "r1", RunIDPos: at("'r1'")} }},
	}
	for _, tt := range tests {
		want := tt.want(offsets(tt.sql))
		st, err := Parse(tt.sql)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.sql, err)
			continue
		}
		if st.Text() != tt.sql || st.Kind() != want.Kind() {
			t.Errorf("Parse(%q): text %q kind %q, want kind %q", tt.sql, st.Text(), st.Kind(), want.Kind())
		}
		if Classify(tt.sql) != want.Kind() {
			t.Errorf("Classify(%q) = %q, want %q", tt.sql, Classify(tt.sql), want.Kind())
		}
		if got := clearSQL(st); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.sql, got, want)
		}
	}
}

func TestParseSections3to5Errors(t *testing.T) {
	const se = "42601"
	tests := []struct {
		sql string
		wantErr
	}{
		// Section 3.
		{`IMPORT TABLES pg1`, wantErr{se, `syntax error at or near "pg1"`, 15, "expected FROM"}},
		{`IMPORT TABLES FROM`, wantErr{se, `syntax error at end of input`, 19, "datasource name"}},
		{`IMPORT TABLES FROM pg1 t1`, wantErr{se, `syntax error at or near "t1"`, 24, "SCHEMA name, (table, ...) or end"}},
		{`IMPORT TABLES FROM pg1 SCHEMA s t1`, wantErr{se, `syntax error at or near "t1"`, 33, "expected (table, ...) or end"}},
		{`REFRESH TABLES FROM pg1 ()`, wantErr{se, `syntax error at or near ")"`, 26, "table name"}},
		{`CREATE TABLE MODEL t`, wantErr{se, `syntax error at end of input`, 21, "expected ("}},
		{`CREATE TABLE MODEL t ()`, wantErr{se, `syntax error at or near ")"`, 23, "column name or PRIMARY KEY"}},
		{`CREATE TABLE MODEL t (a)`, wantErr{se, `syntax error at or near ")"`, 24, "column type"}},
		{`CREATE TABLE MODEL t (a NOT NULL)`, wantErr{se, `syntax error at or near "NOT"`, 25, "expected column type"}},
		{`CREATE TABLE MODEL t (a int UNIQUE)`, wantErr{se, `syntax error at or near "UNIQUE"`, 29, "NOT NULL, NULL, DEFAULT, PRIMARY KEY, COMMENT, , or )"}},
		{`CREATE TABLE MODEL t (a int NOT NULL NULL)`, wantErr{se, `syntax error at or near "NULL"`, 38, "conflicting or repeated NULL/NOT NULL"}},
		{`CREATE TABLE MODEL t (a int DEFAULT)`, wantErr{se, `syntax error at or near ")"`, 36, "DEFAULT expression"}},
		{`CREATE TABLE MODEL t (a int DEFAULT (1)`, wantErr{se, `syntax error at end of input`, 40, "COMMENT, , or )"}},
		{`CREATE TABLE MODEL t (a int DEFAULT f(1)`, wantErr{se, `syntax error at end of input`, 41, "COMMENT, , or )"}},
		{`CREATE TABLE MODEL t (a int DEFAULT f(1 , b int)`, wantErr{se, `syntax error at end of input`, 49, "COMMENT, , or )"}},
		{`CREATE TABLE MODEL t (a int DEFAULT f(1 ;`, wantErr{se, `syntax error at or near ";"`, 41, "expected )"}},
		{`CREATE TABLE MODEL t (a int DEFAULT 1))`, wantErr{se, `syntax error at or near ")"`, 39, "end of statement"}},
		{`CREATE TABLE MODEL t (a varchar(x))`, wantErr{se, `syntax error at or near "x"`, 33, "type modifier"}},
		{`CREATE TABLE MODEL t (a timestamp with zone)`, wantErr{se, `syntax error at or near "zone"`, 40, "expected TIME ZONE"}},
		{`CREATE TABLE MODEL t (a int COMMENT x)`, wantErr{se, `syntax error at or near "x"`, 37, "string literal"}},
		{`CREATE TABLE MODEL t (a int, PRIMARY KEY (a), PRIMARY KEY (a))`, wantErr{se, `syntax error at or near "PRIMARY"`, 47, "given more than once"}},
		{`CREATE TABLE MODEL t (a int) TITLE 'x' TITLE 'y'`, wantErr{se, `syntax error at or near "TITLE"`, 40, "TITLE is given more than once"}},
		{`CREATE TABLE MODEL t (a int) CASE x`, wantErr{se, `syntax error at or near "x"`, 35, "expected CASE SENSITIVE"}},
		{`CREATE TABLE MODEL t (a int) OOPS`, wantErr{se, `syntax error at or near "OOPS"`, 30, "CASE SENSITIVE, TITLE 'title', COMMENT 'comment' or end"}},
		{`CREATE TABLE MODEL a.b.c (x int)`, wantErr{se, `syntax error at or near "."`, 23, "at most 2 parts"}},
		{`ALTER TABLE MODEL t`, wantErr{se, `syntax error at end of input`, 20, "ADD COLUMN, ALTER COLUMN, DROP COLUMN, RENAME COLUMN, MOVE COLUMN, COMMENT or TITLE"}},
		{`ALTER TABLE MODEL t ALTER COLUMN c bigint`, wantErr{se, `syntax error at or near "bigint"`, 36, "TYPE or SET DATA TYPE"}},
		{`ALTER TABLE MODEL t MOVE COLUMN c`, wantErr{se, `syntax error at end of input`, 34, "AFTER column or FIRST"}},
		{`ALTER TABLE MODEL t RENAME COLUMN a b`, wantErr{se, `syntax error at or near "b"`, 37, "expected TO"}},
		{`ALTER TABLE MODEL t ADD COLUMN c int LAST`, wantErr{se, `syntax error at or near "LAST"`, 38, "AFTER column, FIRST or end"}},
		{`ALTER TABLE MODEL t DROP COLUMN a b`, wantErr{se, `syntax error at or near "b"`, 35, "end of statement"}},
		{`DROP TABLE MODEL`, wantErr{"0A000", "flowgate does not support DROP TABLE; supported: SELECT over dataflow.* views, SET, SHOW, BEGIN/COMMIT/ROLLBACK, and the flowgate statements in docs/sql-reference.md", 0, ""}},
		{`DROP TABLE MODEL t u`, wantErr{se, `syntax error at or near "u"`, 20, "end of statement"}},
		{`ASSOCIATE TABLE t pg1`, wantErr{se, `syntax error at or near "pg1"`, 19, "expected WITH"}},
		{`DISSOCIATE TABLE t WITH pg1`, wantErr{se, `syntax error at or near "WITH"`, 20, "expected FROM"}},
		// Section 4.
		{`CREATE DDL TASK t FROM a`, wantErr{se, `syntax error at end of input`, 25, "SCHEMA name or TO"}},
		{`CREATE DDL TASK t FROM a SCHEMA s b`, wantErr{se, `syntax error at or near "b"`, 35, "expected TO"}},
		{`CREATE DDL TASK t FROM a TO b WITH (x)`, wantErr{se, `syntax error at or near ")"`, 38, "expected ="}},
		{`CREATE DDL TASK t FROM a TO b TABLES (a) TABLES (b)`, wantErr{se, `syntax error at or near "TABLES"`, 42, "TABLES is given more than once"}},
		{`CREATE DDL TASK t FROM a TO b LIMIT 1`, wantErr{se, `syntax error at or near "LIMIT"`, 31, "expected TABLES (...), EXCLUDE (...), WITH (...) or end"}},
		{`CREATE DDL TASK t FROM a TO b WITH (x = 1) EXCLUDE a`, wantErr{se, `syntax error at or near "a"`, 52, "expected ("}},
		{`ALTER DDL TASK t (a = 1)`, wantErr{se, `syntax error at or near "("`, 18, "expected SET (setting = value, ...)"}},
		{`RUN DDL TASK`, wantErr{se, `syntax error at end of input`, 13, "DDL task name"}},
		// Section 5.
		{`CREATE SYNC JOB j FROM a TO b.t MODE BATCH`, wantErr{se, `syntax error at or near "TO"`, 26, "expected . and a table name: datasource.[schema.]table"}},
		{`CREATE SYNC JOB j FROM a.b.c.d TO b.t MODE BATCH`, wantErr{se, `syntax error at or near "."`, 29, "at most 3 parts"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t`, wantErr{se, `syntax error at end of input`, 34, "expected MODE BATCH, SCAN or CDC"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE FAST`, wantErr{se, `syntax error at or near "FAST"`, 40, "expected BATCH, SCAN or CDC"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH MODE SCAN`, wantErr{se, `syntax error at or near "MODE"`, 46, "MODE is given more than once"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE 'a' WHERE LAST 1 DAYS ON d`, wantErr{se, `syntax error at or near "WHERE"`, 56, "WHERE is given more than once"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE a > 1`, wantErr{se, `syntax error at or near "a"`, 52, "string literal or LAST n DAYS|MONTHS|YEARS ON column"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE LAST 0 DAYS ON d`, wantErr{se, `syntax error at or near "0"`, 57, "positive whole number"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE LAST 1.5 DAYS ON d`, wantErr{se, `syntax error at or near "1.5"`, 57, "positive whole number"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE LAST 3 WEEKS ON d`, wantErr{se, `syntax error at or near "WEEKS"`, 59, "expected DAYS, MONTHS or YEARS"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WHERE LAST 3 DAYS d`, wantErr{se, `syntax error at or near "d"`, 64, "expected ON"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH SCHEDULE DAILY`, wantErr{se, `syntax error at or near "DAILY"`, 55, "ONCE, CRON 'expression', EVERY 'n seconds' or NONE"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH SCHEDULE CRON`, wantErr{se, `syntax error at end of input`, 59, "cron expression as a string literal"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH TARGET 'x'`, wantErr{se, `syntax error at or near "'x'"`, 53, "expected WHERE"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH INCREMENTAL d`, wantErr{se, `syntax error at or near "d"`, 58, "expected ON"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH TABLES (x)`, wantErr{se, `syntax error at or near "TABLES"`, 46, "TABLES (...) is for FROM DATABASE jobs"}},
		{`CREATE SYNC JOB j FROM DATABASE a TO DATABASE b COLUMNS (x) MODE BATCH`, wantErr{se, `syntax error at or near "COLUMNS"`, 49, "COLUMNS (...) is for table jobs"}},
		{`CREATE SYNC JOB j FROM DATABASE a TO b.t MODE BATCH`, wantErr{se, `syntax error at or near "b"`, 38, "expected DATABASE"}},
		{`CREATE SYNC JOB j FROM a.t TO DATABASE b MODE BATCH`, wantErr{se, `syntax error at or near "DATABASE"`, 31, "FROM DATABASE ... TO DATABASE"}},
		{`CREATE SYNC JOB j FROM DATABASE a b`, wantErr{se, `syntax error at or near "b"`, 35, "SCHEMA name or TO DATABASE"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t COLUMNS (a AS) MODE BATCH`, wantErr{se, `syntax error at or near ")"`, 48, "target column name"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WITH (a = 1) extra`, wantErr{se, `syntax error at or near "extra"`, 59, "expected COLUMNS (...), INCREMENTAL ON, WHERE, TARGET WHERE, SCHEDULE or end of statement"}},
		{`CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH WITH (a = 'x`, wantErr{se, "unterminated quoted string at or near \"'x\"", 56, ""}},
		{`ALTER SYNC JOB j`, wantErr{se, `syntax error at end of input`, 17, "expected SET (setting = value, ...), SET TOPICS (...) or SCHEDULE"}},
		{`ALTER SYNC JOB j SET (a = 1) SET (b = 2)`, wantErr{se, `syntax error at or near "SET"`, 30, "SET is given more than once"}},
		{`ALTER SYNC JOB j SCHEDULE ONCE SET SCHEDULE NONE`, wantErr{se, `syntax error at or near "SET"`, 32, "SCHEDULE is given more than once"}},
		{`ALTER SYNC JOB j RENAME TO k`, wantErr{se, `syntax error at or near "RENAME"`, 18, "expected SET TOPICS (...), SET (...), SCHEDULE or end"}},
		// Section 7: message-queue jobs.
		{`CREATE SYNC JOB j FROM bus TOPICS 'a' TO DATABASE dw MODE CDC`, wantErr{se, `syntax error at or near "'a'"`, 35, "expected ("}},
		{`CREATE SYNC JOB j FROM bus TOPICS (a) TO DATABASE dw MODE CDC`, wantErr{se, `syntax error at or near "a"`, 36, "topic name as a string literal"}},
		{`CREATE SYNC JOB j FROM bus TOPICS ('a', '') TO DATABASE dw MODE CDC`, wantErr{se, `syntax error at or near "''"`, 41, "non-empty topic name"}},
		{`CREATE SYNC JOB j FROM bus TOPICS ('a') TO dw.t MODE CDC`, wantErr{se, `syntax error at or near "dw"`, 44, "TO DATABASE dst"}},
		{`CREATE SYNC JOB j FROM bus TOPICS ('a') TO DATABASE dw COLUMNS (x) MODE CDC`, wantErr{se, `syntax error at or near "COLUMNS"`, 56, "COLUMNS (...) is for table jobs"}},
		{`ALTER SYNC JOB j SET TOPICS ()`, wantErr{se, `syntax error at or near ")"`, 30, "topic name"}},
		{`ALTER SYNC JOB j SET TOPICS ('a') SET TOPICS ('b')`, wantErr{se, `syntax error at or near "SET"`, 35, "TOPICS is given more than once"}},
		{`RESET SYNC JOB j POSITION TO '2024-05-01'`, wantErr{se, `syntax error at or near "'2024-05-01'"`, 30, "expected POSITION TO TIMESTAMP"}},
		{`RESET SYNC JOB j POSITION TO TIMESTAMP 2024`, wantErr{se, `syntax error at or near "2024"`, 40, "timestamp such as"}},
		{`RESET SYNC JOB j`, wantErr{se, `syntax error at end of input`, 17, "expected POSITION TO TIMESTAMP"}},
		{`RUN SYNC JOB j NOW`, wantErr{se, `syntax error at or near "NOW"`, 16, "end of statement"}},
		{`RETRY RUN r1`, wantErr{se, `syntax error at or near "r1"`, 11, "run id as a string literal"}},
		{`RETRY RUN 'r1' STAGE`, wantErr{se, `syntax error at end of input`, 21, "stage name"}},
		{`CLEAN SOURCE DATA 'r1'`, wantErr{se, `syntax error at or near "'r1'"`, 19, "expected FOR RUN"}},
		{`CLEAN SOURCE DATA FOR RUN 'r' BATCH 0`, wantErr{se, `syntax error at or near "0"`, 37, "batch size: a positive whole number"}},
		{`CLEAN SOURCE DATA FOR RUN 'r' BATCH 99999999999999999999`, wantErr{se, `syntax error at or near "99999999999999999999"`, 37, "positive whole number"}},
		{`CLEAN SOURCE DATA FOR RUN 'r' FORCE FORCE`, wantErr{se, `syntax error at or near "FORCE"`, 37, "FORCE is given more than once"}},
		{`CLEAN SOURCE DATA FOR RUN 'r' WHERE x`, wantErr{se, `syntax error at or near "x"`, 37, "string literal"}},
		{`CLEAN SOURCE DATA FOR RUN 'r' LIMIT 5`, wantErr{se, `syntax error at or near "LIMIT"`, 31, "WHERE 'expression', BATCH n, FORCE or end"}},
		{`CLEAN EXPORT FILES FOR 'r'`, wantErr{se, `syntax error at or near "'r'"`, 24, "expected FOR RUN"}},
		{`CLEAN EXPORT FILES FOR RUN 'r' FORCE`, wantErr{se, `syntax error at or near "FORCE"`, 32, "end of statement"}},
		{`CLEAN x`, wantErr{se, `syntax error at or near "x"`, 7, "expected SOURCE or EXPORT"}},
		{`PAUSE SYNC JOB`, wantErr{se, `syntax error at end of input`, 15, "sync job name"}},
		// Positions count characters.
		{`CREATE SYNC JOB "é" FROM a.t TO b.t MODE BATCH SCHEDULE x`, wantErr{se, `syntax error at or near "x"`, 57, ""}},
	}
	for _, tt := range tests {
		st, err := Parse(tt.sql)
		if err == nil {
			t.Errorf("Parse(%q) = %#v, want error", tt.sql, st)
			continue
		}
		checkErr(t, tt.sql, err, tt.wantErr)
	}
}

func TestLiteralOffset(t *testing.T) {
	sql := `CLEAN SOURCE DATA FOR RUN 'r' WHERE 'a = ''x'' AND oops'`
	st, err := Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	c := st.(*CleanSourceData)
	k := strings.Index(*c.Where, "oops")
	if got, want := LiteralOffset(sql, c.WherePos, k), strings.Index(sql, "oops"); got != want {
		t.Errorf("LiteralOffset = %d, want %d", got, want)
	}
	if got := LiteralOffset(sql, c.WherePos, 1000); got != len(sql) {
		t.Errorf("LiteralOffset past the end = %d, want %d", got, len(sql))
	}
	sql = `CREATE SYNC JOB j FROM a.t TO b.t MODE BATCH SCHEDULE CRON $x$bad cron$x$`
	st, err = Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*CreateSyncJob).Schedule
	if got, want := LiteralOffset(sql, s.ExprPos, 4), strings.Index(sql, "cron$"); got != want {
		t.Errorf("LiteralOffset($x$) = %d, want %d", got, want)
	}
}

// Every prefix of a valid statement (cut at each byte) parses or fails with a
// positioned PgError, never panics.
func TestPrefixesFailCleanly(t *testing.T) {
	for _, sql := range []string{
		`CREATE TABLE MODEL IF NOT EXISTS s."T" (a numeric(10,-2) unsigned NOT NULL DEFAULT f((1), '[') PRIMARY KEY COMMENT 'c', b timestamp(3) with time zone[], CONSTRAINT pk PRIMARY KEY (a)) CASE SENSITIVE TITLE 't' COMMENT 'c'`,
		`ALTER TABLE MODEL t ADD COLUMN c national char varying(3) ARRAY AFTER b`,
		`ALTER TABLE MODEL t ALTER COLUMN c SET DATA TYPE double precision`,
		`CREATE DDL TASK IF NOT EXISTS t FROM a SCHEMA s TO b SCHEMA d TABLES (x) EXCLUDE (y) WITH (parallel = -4)`,
		`CREATE SYNC JOB IF NOT EXISTS j FROM DATABASE a SCHEMA s TO DATABASE b SCHEMA d TABLES (x AS y) EXCLUDE (z) MODE CDC INCREMENTAL ON c WHERE LAST 3 YEARS ON c TARGET WHERE $$x$$ SCHEDULE EVERY 5 seconds WITH (a = b)`,
		`ALTER SYNC JOB j SET SCHEDULE CRON U&'\0030 * * * *' SET (a = 'b')`,
		`CLEAN SOURCE DATA FOR RUN E'r\'1' WHERE 'x' BATCH 7 FORCE`,
	} {
		if _, err := Parse(sql); err != nil {
			t.Errorf("Parse(%q): %v", sql, err)
		}
		for n := range len(sql) {
			prefix := sql[:n]
			_, err := Parse(prefix)
			if err == nil {
				continue
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" ||
				pe.Position < 0 || int(pe.Position) > utf8.RuneCountInString(prefix)+1 {
				t.Errorf("Parse(%q): bad error %#v", prefix, err)
			}
		}
	}
}
