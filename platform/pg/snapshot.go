package pg

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Snapshot is a PostgreSQL MVCC snapshot (pg_current_snapshot() as text): which transactions
// a statement saw committed. With it a process can tell exactly whether a count it read holds
// a change it committed itself, where clocks can only guess: a transaction stamped before a
// statement began may commit after it. Read a statement's snapshot in the same statement
// (select count(*), pg_current_snapshot()::text ...), and a transaction's id with
// XactIDQuery inside it.
type Snapshot struct {
	xmin, xmax uint64
	// xip are the transactions in progress when it was taken, between xmin and xmax, sorted.
	xip []uint64
}

// XactIDQuery returns the current transaction's id (xid8, as text for ParseXactID); in a
// batch sent alone it is the batch's implicit transaction.
const XactIDQuery = `select pg_current_xact_id()::text`

// SnapshotQuery returns the statement's snapshot as text, for ParseSnapshot.
const SnapshotQuery = `select pg_current_snapshot()::text`

// ParseXactID parses a transaction id read with XactIDQuery.
func ParseXactID(s string) (uint64, error) {
	return strconv.ParseUint(s, 10, 64)
}

// ParseSnapshot parses pg_snapshot's text form, xmin:xmax:xip,xip,...
func ParseSnapshot(s string) (Snapshot, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Snapshot{}, fmt.Errorf("pg snapshot %q: want xmin:xmax:xip", s)
	}
	var snap Snapshot
	var err error
	if snap.xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return Snapshot{}, fmt.Errorf("pg snapshot %q: xmin: %w", s, err)
	}
	if snap.xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return Snapshot{}, fmt.Errorf("pg snapshot %q: xmax: %w", s, err)
	}
	if parts[2] != "" {
		for f := range strings.SplitSeq(parts[2], ",") {
			x, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return Snapshot{}, fmt.Errorf("pg snapshot %q: xip: %w", s, err)
			}
			snap.xip = append(snap.xip, x)
		}
		slices.Sort(snap.xip)
	}
	return snap, nil
}

// Holds reports whether the snapshot sees the work of committed transaction xid: it had
// committed when the snapshot was taken (pg_visible_in_snapshot). The zero Snapshot holds
// nothing.
func (s Snapshot) Holds(xid uint64) bool {
	if xid < s.xmin {
		return true
	}
	if xid >= s.xmax {
		return false
	}
	_, inProgress := slices.BinarySearch(s.xip, xid)
	return !inProgress
}
