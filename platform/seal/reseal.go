package seal

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// Column is a table's secret column as this package keeps it: the sealed value in Sealed
// (bytea), and, in rows written before sealing (or by an instance of an older release during
// an upgrade), the value in clear in Clear, which Reseal seals and empties. Exactly one of the
// two is set in a row (the table's check constraint says so). The names are the code's own
// constants, never input.
type Column struct {
	// Table is the schema-qualified table: "auth.signing_keys".
	Table string
	// ID is its primary key column; its text is the Place's Row.
	ID string
	// Clear is the column that held the value in clear; it names the Place's Column.
	Clear string
	// Sealed is the bytea column of the sealed value.
	Sealed string
}

// Place is where row's value of c is kept.
func (c Column) Place(row string) Place { return Place{Table: c.Table, Column: c.Clear, Row: row} }

// OpenRow returns row's value of c from the two columns as read: sealed when set, else the
// value in clear (a row Reseal has not reached yet).
func (r *Keyring) OpenRow(c Column, row string, clear, sealed []byte) ([]byte, error) {
	if sealed == nil {
		return clear, nil
	}
	plain, err := r.Open(sealed, c.Place(row))
	if err != nil {
		return nil, fmt.Errorf("%s.%s of %s: %w", c.Table, c.Clear, row, err)
	}
	return plain, nil
}

// resealBatch is how many rows one transaction of Reseal takes.
const resealBatch = 100

// Reseal seals under the current key every row of c still in clear or sealed under a
// previous key, resealBatch rows per transaction, and returns how many it sealed. Rows are
// taken FOR UPDATE SKIP LOCKED and chosen by what they hold, so instances starting at once
// share the work and a second run finds nothing to do. A row that does not open (a key the
// Keyring lacks) is left as it is and named in the error, after every other row was
// sealed; the error never holds a value. Meant for small tables: it walks the rows by the
// text of their key.
func (r *Keyring) Reseal(ctx context.Context, db *pgxpool.Pool, c Column) (int, error) {
	total, after := 0, ""
	var failed []error
	for {
		n, last, errs, err := r.resealBatch(ctx, db, c, after)
		total += n
		failed = append(failed, errs...)
		if err != nil || last == "" {
			return total, errors.Join(append(failed, err)...)
		}
		after = last
	}
}

// resealBatch reseals up to resealBatch rows after the key after; last is the key of the
// last row it looked at, empty when there were none.
func (r *Keyring) resealBatch(ctx context.Context, db *pgxpool.Pool, c Column, after string) (n int, last string, failed []error, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, fmt.Sprintf(`select %[2]s::text, %[3]s, %[4]s from %[1]s
			where (%[4]s is null or substring(%[4]s from 1 for %[5]d) <> $1) and %[2]s::text > $2
			order by %[2]s::text limit $3 for update skip locked`, c.Table, c.ID, c.Clear, c.Sealed, headerSize),
			r.Header(), after, resealBatch)
		if err != nil {
			return err
		}
		type row struct {
			id            string
			clear, sealed []byte
		}
		found, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
			var x row
			err := cr.Scan(&x.id, &x.clear, &x.sealed)
			return x, err
		})
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, x := range found {
			last = x.id
			plain, err := r.OpenRow(c, x.id, x.clear, x.sealed)
			if err != nil {
				failed = append(failed, err)
				continue
			}
			sealed, err := r.Seal(plain, c.Place(x.id))
			if err != nil {
				return err
			}
			batch.Queue(fmt.Sprintf(`update %s set %s = $1, %s = null where %s::text = $2`, c.Table, c.Sealed, c.Clear, c.ID), sealed, x.id)
			n++
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return 0, "", failed, fmt.Errorf("reseal %s.%s: %w", c.Table, c.Clear, err)
	}
	return n, last, failed, nil
}

// ResealAtStart is Reseal as a service runs it when it starts, before it reads c: without a
// Keyring it refuses to start; rows sealed is logged with the current key's id; rows that do
// not open (a key the process lacks) are logged by row and key id and left, so a service
// whose old, unused rows cannot be opened still starts (what needs them fails when it reads
// them); a database error stops the start.
func ResealAtStart(ctx context.Context, db *pgxpool.Pool, r *Keyring, c Column, log zerolog.Logger) error {
	if r == nil {
		return fmt.Errorf("%s.%s is sealed: no data-encryption key was given (SOUK_SECRET_KEY)", c.Table, c.Clear)
	}
	n, err := r.Reseal(ctx, db, c)
	if n > 0 {
		log.Info().Int("rows", n).Str("table", c.Table).Str("key_id", r.ID()).Msg("sealed under the current data-encryption key")
	}
	if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrOpen) {
		log.Error().Err(err).Str("table", c.Table).Msg("values that neither SOUK_SECRET_KEY nor SOUK_SECRET_KEYS_OLD opens")
		return nil
	}
	return err
}
