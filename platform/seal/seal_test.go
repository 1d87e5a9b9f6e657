package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/platform/seal"
)

var here = seal.Place{Table: "auth.signing_keys", Column: "private_key", Row: "k1"}

func TestSealOpensOnlyInItsPlace(t *testing.T) {
	r := seal.MustParse(seal.Generate())
	secret := []byte("the webhook secret")
	sealed, err := r.Seal(secret, here)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) || !r.Current(sealed) {
		t.Fatalf("sealed %x", sealed)
	}
	if again, _ := r.Seal(secret, here); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	if got, err := r.Open(sealed, here); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, other := range []seal.Place{{Table: here.Table, Column: here.Column, Row: "k2"},
		{Table: here.Table, Column: "other", Row: "k1"}, {Table: "notify.webhook_endpoints", Column: here.Column, Row: "k1"}} {
		if _, err := r.Open(sealed, other); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("opened at %+v: %v", other, err)
		}
	}
	for i := range sealed {
		bent := bytes.Clone(sealed)
		bent[i] ^= 1
		if _, err := r.Open(bent, here); err == nil {
			t.Fatalf("opened with byte %d changed", i)
		}
	}
	if _, err := r.Open(secret, here); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("a clear value opened: %v", err)
	}
}

func TestRotationOpensOldValues(t *testing.T) {
	oldKey, curKey := seal.Generate(), seal.Generate()
	before := seal.MustParse(oldKey)
	sealed, err := before.Seal([]byte("s"), here)
	if err != nil {
		t.Fatal(err)
	}
	after := seal.MustParse(curKey, oldKey)
	if after.Current(sealed) || after.ID() == before.ID() {
		t.Fatal("the old key is still current")
	}
	if got, err := after.Open(sealed, here); err != nil || string(got) != "s" {
		t.Fatalf("old value after rotation: %q %v", got, err)
	}
	if _, err := seal.MustParse(curKey).Open(sealed, here); !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), before.ID()) {
		t.Fatalf("without the old key: %v", err)
	}
}

func TestParseKeyNeverShowsTheKey(t *testing.T) {
	for _, bad := range []string{"not base64 at all!", "c2hvcnQ=", strings.Repeat("A", 60)} {
		_, err := seal.Parse(bad, nil)
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if _, err := seal.Parse(seal.Generate(), []string{"c2hvcnQ="}); err == nil || !strings.Contains(err.Error(), "previous key 1") {
		t.Fatalf("a bad old key: %v", err)
	}
	k := seal.Generate()
	if _, err := seal.Parse(" "+k+"\n", nil); err != nil {
		t.Fatalf("spaces around a key: %v", err)
	}
}

// TestResealRacingInstances: rows in clear and rows under an old key end sealed under the
// current key, each opening to its own value, when several instances reseal at once; a
// second run finds nothing; a row under a key nobody has is named and left alone.
func TestResealRacingInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	if _, err := db.Exec(ctx, `create schema s; create table s.t (id text primary key, secret text, secret_sealed bytea,
		check ((secret is null) <> (secret_sealed is null)))`); err != nil {
		t.Fatal(err)
	}
	col := seal.Column{Table: "s.t", ID: "id", Clear: "secret", Sealed: "secret_sealed"}
	oldKey, curKey := seal.Generate(), seal.Generate()
	old, lost := seal.MustParse(oldKey), seal.MustParse(seal.Generate())
	const n = 250 // more than a batch
	for i := range n {
		id := fmt.Sprintf("row-%03d", i)
		var err error
		switch i % 3 {
		case 0:
			_, err = db.Exec(ctx, `insert into s.t (id, secret) values ($1, $2)`, id, "secret-"+id)
		case 1:
			sealed, _ := old.Seal([]byte("secret-"+id), col.Place(id))
			_, err = db.Exec(ctx, `insert into s.t (id, secret_sealed) values ($1, $2)`, id, sealed)
		case 2:
			sealed, _ := seal.MustParse(curKey).Seal([]byte("secret-"+id), col.Place(id))
			_, err = db.Exec(ctx, `insert into s.t (id, secret_sealed) values ($1, $2)`, id, sealed)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	orphan, _ := lost.Seal([]byte("orphan"), col.Place("zz"))
	if _, err := db.Exec(ctx, `insert into s.t (id, secret_sealed) values ('zz', $1)`, orphan); err != nil {
		t.Fatal(err)
	}

	cur := seal.MustParse(curKey, oldKey)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := cur.Reseal(ctx, db, col)
			if err != nil && !errors.Is(err, seal.ErrUnknownKey) {
				// An instance meets the orphan unless another holds its lock then.
				t.Errorf("reseal: %v", err)
			}
			mu.Lock()
			total += got
			mu.Unlock()
		}()
	}
	wg.Wait()
	if want := n - n/3; total != want {
		t.Fatalf("racing instances sealed %d rows, want %d (each once)", total, want)
	}
	rows, err := db.Query(ctx, `select id, secret, secret_sealed from s.t where id <> 'zz'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var clear *string
		var sealed []byte
		if err := rows.Scan(&id, &clear, &sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := cur.Open(sealed, col.Place(id))
		if clear != nil || !cur.Current(sealed) || err != nil || string(plain) != "secret-"+id || bytes.Contains(sealed, []byte("secret-")) {
			t.Fatalf("%s: clear %v, current %v, opens to %q (%v)", id, clear, cur.Current(sealed), plain, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := cur.Reseal(ctx, db, col)
	if got != 0 || !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), "s.t.secret of zz") {
		t.Fatalf("second run: %d, %v", got, err)
	}
	var still []byte
	if err := db.QueryRow(ctx, `select secret_sealed from s.t where id = 'zz'`).Scan(&still); err != nil || !bytes.Equal(still, orphan) {
		t.Fatalf("the orphan changed: %v", err)
	}
}
