package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"
)

// SQLite has no time type: the go-sqlite driver writes a time.Time as text
// in its own zone ("2006-01-02 15:04:05.999999999-07:00") and compares such
// columns as text. Text order is time order only when every value has the
// same offset, so the SQLite pool converts every time argument to UTC before
// the driver sees it (inserts, updates and WHERE clauses alike), truncated
// to the microsecond as pgx does for PostgreSQL, so both databases keep the
// same precision. A nil
// []byte is sent as NULL, as pgx does, so nullable BLOB columns round-trip.

// utcConnector opens driver connections that normalise time arguments.
type utcConnector struct {
	dsn string
	drv driver.Driver
}

var _ driver.Connector = utcConnector{}

func (c utcConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(innerConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("sqlite driver connection lacks context methods")
	}
	return utcConn{inner}, nil
}

func (c utcConnector) Driver() driver.Driver { return c.drv }

// innerConn is what the go-sqlite connection implements.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

type utcConn struct{ innerConn }

var (
	_ innerConn                = utcConn{}
	_ driver.NamedValueChecker = utcConn{}
)

// CheckNamedValue does database/sql's default conversion, then moves times
// to UTC at microsecond precision and turns a nil byte slice into NULL.
func (utcConn) CheckNamedValue(nv *driver.NamedValue) error {
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	switch x := v.(type) {
	case time.Time:
		v = x.UTC().Truncate(time.Microsecond)
	case []byte:
		if x == nil {
			v = nil
		}
	}
	nv.Value = v
	return nil
}
