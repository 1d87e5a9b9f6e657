// Package page is keyset pagination, the one way every list of Souk pages: one limit rule,
// one cursor format, a cursor bound to the list it was made for.
//
// A list is ordered by a key: the time a row was made (newest or oldest first) and its id,
// or its id alone (UUIDv7 ids are time-ordered). A page is fetched with Limit+1 rows after
// the cursor's key; Next cuts it to Limit and makes the next cursor from the last row kept.
// The cursor names its list (a hash of the list's name and parameters: "orders/<user id>",
// "reviews/<product id>"), so a cursor replayed on another list, another user's, or a
// cursor of an older format, is a 400 naming the cursor, never a page of something else.
package page

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// The page size rule of every list.
const (
	// Default is the page size when the request gives none.
	Default = 20
	// Max is the largest page.
	Max = 100
)

// Key is a position in a list: the last row seen. At is zero in a list ordered by id alone.
type Key struct {
	At time.Time
	ID uuid.UUID
}

// Request is a list request checked: its page size and, past the first page, the key of the
// last row of the previous page.
type Request struct {
	Limit int
	// After is the key to continue after; nil on the first page.
	After *Key
}

// maxCursor bounds a cursor before it is decoded: those Cursor makes are about 94 bytes.
const maxCursor = 128

// errCursor is a cursor this list did not make.
var errCursor = subjects.BadRequest("cursor", "is not a cursor of this list")

// Read checks req for list: the limit 1..Max (Default when 0) and the cursor, which must be
// one that Next made for the same list.
func Read(req subjects.ListRequest, list string) (Request, error) {
	r := Request{Limit: req.Limit}
	switch {
	case r.Limit == 0:
		r.Limit = Default
	case r.Limit < 1 || r.Limit > Max:
		return Request{}, subjects.BadRequest("limit", "must be between 1 and "+strconv.Itoa(Max))
	}
	if req.Cursor == "" {
		return r, nil
	}
	if len(req.Cursor) > maxCursor {
		return Request{}, errCursor
	}
	k, err := decode(req.Cursor, list)
	if err != nil {
		return Request{}, errCursor
	}
	r.After = &k
	return r, nil
}

// Next returns the page of rows, fetched with Limit+1 rows after the request's key, cut to
// Limit, and the cursor of the page after it ("" when this is the last).
func Next[T any](rows []T, r Request, list string, key func(T) Key) ([]T, string) {
	if len(rows) <= r.Limit {
		return rows, ""
	}
	rows = rows[:r.Limit]
	return rows, Cursor(list, key(rows[len(rows)-1]))
}

// List serves a list request: it reads req for list, fetches the rows of the checked request
// (fetch returns up to Limit+1 rows after its After, in the list's order), cuts the page and
// converts each row with wire; it returns the items and the next cursor ("" on the last page).
func List[T, W any](req subjects.ListRequest, list string, fetch func(Request) ([]T, error), key func(T) Key, wire func(T) W) ([]W, string, error) {
	r, err := Read(req, list)
	if err != nil {
		return nil, "", err
	}
	rows, err := fetch(r)
	if err != nil {
		return nil, "", err
	}
	rows, next := Next(rows, r, list, key)
	items := make([]W, len(rows))
	for i, row := range rows {
		items[i] = wire(row)
	}
	return items, next, nil
}

// Cursor is the opaque cursor of the position k in list:
// base64url("p1.<list hash>.<unix nanos or empty>.<id>").
func Cursor(list string, k Key) string {
	at := ""
	if !k.At.IsZero() {
		at = strconv.FormatInt(k.At.UnixNano(), 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte("p1." + bind(list) + "." + at + "." + k.ID.String()))
}

func decode(cursor, list string) (Key, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return Key{}, err
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != "p1" || parts[1] != bind(list) {
		return Key{}, errCursor
	}
	var k Key
	if parts[2] != "" {
		ns, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return Key{}, err
		}
		k.At = time.Unix(0, ns).UTC()
	}
	if k.ID, err = uuid.Parse(parts[3]); err != nil {
		return Key{}, err
	}
	return k, nil
}

// bind is the list's short fingerprint: 8 bytes of its name's SHA-256, base64url.
func bind(list string) string {
	sum := sha256.Sum256([]byte(list))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}
