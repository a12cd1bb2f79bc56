package executor

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/jackc/pgx/v5/pgconn"
)

// openedSource is a datasource opened through its connector. Errors from it
// go through scrub so a password in a driver message never reaches a client.
type openedSource struct {
	ds      *catalog.Datasource
	typ     connectors.Type
	conn    connectors.Connector
	secrets []string
}

// openDatasource loads an active datasource and opens its connector.
func (s *Session) openDatasource(ctx context.Context, name string) (*openedSource, error) {
	d, err := s.activeDatasource(ctx, name)
	if err != nil {
		return nil, err
	}
	t, err := lookupType(d.Type, 0)
	if err != nil {
		return nil, err
	}
	o := &openedSource{ds: d, typ: t, secrets: t.Secrets(d.Options)}
	c, err := t.Open(d.Options)
	if err != nil {
		return nil, o.remoteErr("open", err)
	}
	o.conn = c
	return o, nil
}

func (o *openedSource) Close() {
	if o != nil && o.conn != nil {
		o.conn.Close()
	}
}

// capability returns the connector's capability T or a 0A000 naming the
// datasource type.
func capability[T any](o *openedSource, what string) (T, error) {
	v, err := connectors.As[T](o.conn)
	if err != nil {
		var zero T
		return zero, pgErr(codeFeatureNotSupp, "datasource %q of type %s cannot %s", o.ds.Name, o.ds.Type, what)
	}
	return v, nil
}

// remoteErr turns an error of the datasource into a client error: a
// PostgreSQL error keeps its SQLSTATE, an unreachable server is 08001, the
// rest 58000; the message names the datasource and never a secret.
func (o *openedSource) remoteErr(doing string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return pgErr(codeQueryCanceled, "canceling statement due to user request")
	}
	scrubbed := connectors.ScrubError(err, o.secrets...)
	msg := fmt.Sprintf("datasource %q: %s: %s", o.ds.Name, doing, scrubbed.Error())
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe) && pe.Code != "":
		return pgErr(pe.Code, "%s", msg)
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return withHint(pgErr(codeConnectionFailure, "%s", msg), fmt.Sprintf("Check it with TEST DATASOURCE %s.", o.ds.Name))
	}
	return pgErr(codeSystemError, "%s", msg)
}
