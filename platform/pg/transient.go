package pg

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATEs and classes Transient reads. A class is the first two characters of a code.
const (
	ReadOnlyTransaction = "25006"
	QueryCanceled       = "57014"
	LockNotAvailable    = "55P03"
	AdminShutdown       = "57P01"
	CrashShutdown       = "57P02"
	CannotConnectNow    = "57P03"
	// classConnection is "connection exception" (08xxx).
	classConnection = "08"
	// classResources is "insufficient resources" (53xxx): disk full, out of memory, too
	// many connections.
	classResources = "53"
)

// Transient reports whether err means the database could not do the work for now, rather
// than that the work itself is wrong: whoever runs the work should hold it and try again
// later (after a pause, or at once for a Conflict) and must not count the failure against
// it (a consumer's delivery, a dead letter). It looks through wrapping (errors.As), so a
// handler's own error around one of these still counts.
//
// Transient:
//   - the connection: SQLSTATE class 08, a failed connect (*pgconn.ConnectError, whatever
//     its cause, a wrong password included: no message is to blame for it), a closed or
//     reset connection (io.EOF, io.ErrUnexpectedEOF, net errors, net.ErrClosed, ECONNRESET,
//     EPIPE, ECONNREFUSED);
//   - a server that refuses or sheds work: read-only transaction (25006, a standby or a
//     database set read-only after a failover), insufficient resources (class 53: disk
//     full, out of memory, too many connections), admin shutdown, crash shutdown and
//     cannot connect now (57P01, 57P02, 57P03);
//   - a lost race: serialization failure (40001) and deadlock (40P01), see Conflict;
//   - a statement the server cancelled (57014: its statement_timeout, an operator's
//     pg_cancel_backend, a recovery conflict on a standby) or a lock it gave up waiting
//     for (55P03, lock_timeout or NOWAIT): both mean the database is slow or locked, which
//     is no fault of the work;
//   - an error marked with Unavailable (a pool acquire that ran out of time).
//
// Not transient: the caller's own context ending (context.Canceled, DeadlineExceeded:
// pgx reports a statement that outlasted its context so, never as 57014): the caller's
// budget ran out, and whether that is the work's fault is the caller's call (a consumer
// counts it against the message, so a handler that hangs cannot hold everything up).
// Every other SQLSTATE (constraint violations, bad input, undefined objects, ...) and
// every non-database error is the work's own; so is pgx's "conn busy" (rows left open, by
// the work itself), though pgconn.SafeToRetry says yes to it: SafeToRetry tells whether a
// request was sent, not whose fault it failed.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var u unavailableError
	var connectErr *pgconn.ConnectError
	if errors.As(err, &u) || errors.As(err, &connectErr) {
		return true // before the context check: a connect that timed out is no fault of the work
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientCode(pgErr.Code)
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}

// transientCode reports whether a SQLSTATE is one Transient accepts.
func transientCode(code string) bool {
	switch code {
	case ReadOnlyTransaction, SerializationFailure, DeadlockDetected, QueryCanceled, LockNotAvailable,
		AdminShutdown, CrashShutdown, CannotConnectNow:
		return true
	}
	return strings.HasPrefix(code, classConnection) || strings.HasPrefix(code, classResources)
}

// Conflict reports whether err is a serialization failure (40001) or a deadlock (40P01): the
// transaction lost a race with another one and, run again at once, most likely succeeds.
// A Conflict is also Transient.
func Conflict(err error) bool {
	c := Code(err)
	return c == SerializationFailure || c == DeadlockDetected
}

type unavailableError struct{ err error }

func (e unavailableError) Error() string { return "database unavailable: " + e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

// Unavailable marks err, from a pool's Acquire or Begin, as the database being unavailable:
// Transient reports true for it even when it is a context deadline (pgxpool reports an
// exhausted pool that way). Unavailable(nil) is nil.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailableError{err}
}
