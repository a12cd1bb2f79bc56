# flowgate: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go

.PHONY: run build test fuzz docs vet bench

run:
	$(GO) run ./cmd/flowgate

# flowgate moving data with no database server: SQLite source and target and
# a file datasource in a temporary directory, driven through psql; removes
# everything afterwards (cmd/flowgate-demo, docs/examples/demo.sql).
.PHONY: demo
demo:
	$(GO) run ./cmd/flowgate-demo -go "$(GO)"

build:
	$(GO) build -o bin/flowgate ./cmd/flowgate

# The whole suite, against real PostgreSQL and MariaDB (throwaway instances,
# or FLOWGATE_TEST_PG_DSN / FLOWGATE_TEST_MYSQL_DSN).
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

# Every fuzz target, one minute each.
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzSplit -fuzztime=60s ./parser/
	$(GO) test -run '^$$' -fuzz=FuzzParse -fuzztime=60s ./parser/
	$(GO) test -run '^$$' -fuzz=FuzzWire -fuzztime=60s ./wire/
	$(GO) test -run '^$$' -fuzz='^FuzzParseDDL$$' -fuzztime=60s ./connectors/mysql/
	$(GO) test -run '^$$' -fuzz='^FuzzDecodeEvent$$' -fuzztime=60s ./connectors/mysql/binlog/
	$(GO) test -run '^$$' -fuzz='^FuzzDecodeJSON$$' -fuzztime=60s ./connectors/mysql/binlog/
	$(GO) test -run '^$$' -fuzz='^FuzzJSONText$$' -fuzztime=60s ./connectors/kafka/

docs:
	$(GO) run ./connectors/gendocs > docs/datasources.md
	$(GO) run ./executor/runopts/gendocs

# Throughput against same-run baselines (needs PostgreSQL, MariaDB, psql;
# pgloader for one comparison). ROWS=10000000 for the big run.
ROWS ?= 2000000
bench:
	$(GO) run ./bench -rows $(ROWS)
