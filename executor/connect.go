package executor

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/jackc/pgx/v5/pgconn"
)

// openedSource is a datasource opened through its connector. Errors from it
// go through remoteErr so a password in a driver message never reaches a
// client.
type openedSource struct{ *batch.Endpoint }

// openConnector opens d's connector; the error is the driver's, unscrubbed.
// Host paths are checked first, every time (a symlink can change).
func (e *Executor) openConnector(d *catalog.Datasource) (*batch.Endpoint, error) {
	t, ok := connectors.Lookup(d.Type)
	if !ok {
		return nil, fmt.Errorf("datasource %q has unknown type %s", d.Name, d.Type)
	}
	if err := e.checkOpenPaths(d, t); err != nil {
		return nil, err
	}
	ep := &batch.Endpoint{Name: d.Name, Type: d.Type, Secrets: t.Secrets(d.Options)}
	c, err := t.Open(d.Options)
	if err != nil {
		return ep, err
	}
	ep.Conn = c
	return ep, nil
}

// openDatasource loads an active datasource and opens its connector.
func (s *Session) openDatasource(ctx context.Context, name string) (*openedSource, error) {
	d, err := s.activeDatasource(ctx, name)
	if err != nil {
		return nil, err
	}
	ep, err := s.ex.openConnector(d)
	if err != nil {
		if ep == nil {
			return nil, err
		}
		return nil, (&openedSource{ep}).remoteErr("open", err)
	}
	return &openedSource{ep}, nil
}

// capability returns the connector's capability T or a 0A000 naming the
// datasource type.
func capability[T any](o *openedSource, what string) (T, error) {
	v, err := connectors.As[T](o.Conn)
	if err != nil {
		var zero T
		return zero, pgErr(codeFeatureNotSupp, "datasource %q of type %s cannot %s", o.Name, o.Type, what)
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
	scrubbed := connectors.ScrubError(err, o.Secrets...)
	msg := fmt.Sprintf("datasource %q: %s: %s", o.Name, doing, scrubbed.Error())
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe) && pe.Code != "":
		return pgErr(pe.Code, "%s", msg)
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return withHint(pgErr(codeConnectionFailure, "%s", msg), fmt.Sprintf("Check it with TEST DATASOURCE %s.", o.Name))
	}
	return pgErr(codeSystemError, "%s", msg)
}
