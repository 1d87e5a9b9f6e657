package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/seal"
)

// signingKey is one row of signing_keys.
type signingKey struct {
	KID       string
	Private   ed25519.PrivateKey
	CreatedAt time.Time
	RetiredAt *time.Time
	IsRetired bool
}

// KeyStore is the signing_keys table. The private keys are sealed there (keyColumn).
type KeyStore struct {
	db   *pgxpool.Pool
	seal *seal.Keyring
}

// keyColumn is where the private keys are kept: sealed, bound to their kid.
var keyColumn = seal.Column{Table: "auth.signing_keys", ID: "kid", Clear: "private_key", Sealed: "private_key_sealed"}

// sealKey seals priv for the row kid.
func (s *KeyStore) sealKey(kid string, priv ed25519.PrivateKey) ([]byte, error) {
	return s.seal.Seal(priv, keyColumn.Place(kid))
}

func newKey() (kid string, priv ed25519.PrivateKey, err error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", nil, err
	}
	_, priv, err = ed25519.GenerateKey(rand.Reader)
	return id.String(), priv, err
}

// EnsureCurrent creates a current key when there is none. Instances starting at once may
// all try; the unique index on the current key lets exactly one insert land.
func (s *KeyStore) EnsureCurrent(ctx context.Context) error {
	kid, priv, err := newKey()
	if err != nil {
		return err
	}
	sealed, err := s.sealKey(kid, priv)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `insert into auth.signing_keys (kid, private_key_sealed)
		select $1, $2 where not exists (select 1 from auth.signing_keys where retired_at is null)
		on conflict do nothing`, kid, sealed)
	if err != nil {
		return fmt.Errorf("ensure signing key: %w", err)
	}
	return nil
}

// Live returns the current key and the keys retired less than within ago, oldest first.
func (s *KeyStore) Live(ctx context.Context, within time.Duration) ([]signingKey, error) {
	rows, err := s.db.Query(ctx, `select kid, private_key, private_key_sealed, created_at, retired_at from auth.signing_keys
		where retired_at is null or retired_at > now() - make_interval(secs => $1)
		order by created_at`, within.Seconds())
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	var keys []signingKey
	for rows.Next() {
		var k signingKey
		var clear, sealed []byte
		if err := rows.Scan(&k.KID, &clear, &sealed, &k.CreatedAt, &k.RetiredAt); err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
		raw, err := s.seal.OpenRow(keyColumn, k.KID, clear, sealed)
		if err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
		if len(raw) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("signing key %s: bad length %d", k.KID, len(raw))
		}
		k.Private, k.IsRetired = ed25519.PrivateKey(raw), k.RetiredAt != nil
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return keys, nil
}

// Rotate retires the current key and makes a new one current, in one transaction. An
// advisory lock serialises rotations, so two at once both succeed, one after the other.
func (s *KeyStore) Rotate(ctx context.Context) (signingKey, error) {
	kid, priv, err := newKey()
	if err != nil {
		return signingKey{}, err
	}
	k := signingKey{KID: kid, Private: priv}
	sealed, err := s.sealKey(kid, priv)
	if err != nil {
		return signingKey{}, err
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1)`, rotateLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update auth.signing_keys set retired_at = now() where retired_at is null`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `insert into auth.signing_keys (kid, private_key_sealed) values ($1, $2) returning created_at`,
			kid, sealed).Scan(&k.CreatedAt)
	})
	if err != nil {
		return signingKey{}, fmt.Errorf("rotate signing key: %w", err)
	}
	return k, nil
}

var rotateLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("souk.auth.rotate"))
	return int64(h.Sum64())
}()

// Sessions is the refresh-session store in the KV bucket "sessions".
type Sessions struct {
	// kv is the bucket; the service's Start sets it before the endpoints serve.
	kv jetstream.KeyValue
}

// casRetries bounds the compare-and-swap loops on a family.
const casRetries = 8

func getJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string) (T, uint64, error) {
	var v T
	e, err := kv.Get(ctx, key)
	if err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return v, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, e.Revision(), nil
}

// CreateFamily stores a new session family.
func (s *Sessions) CreateFamily(ctx context.Context, fam string, f familyEntry) error {
	b, _ := json.Marshal(f)
	if _, err := s.kv.Create(ctx, familyKey(fam), b); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Token returns the entry of a refresh token hash and its revision; ErrInvalidRefresh when
// there is none.
func (s *Sessions) Token(ctx context.Context, hash string) (tokenEntry, uint64, error) {
	t, rev, err := getJSON[tokenEntry](ctx, s.kv, tokenKey(hash))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return t, 0, ErrInvalidRefresh
	}
	return t, rev, err
}

// Family returns a family entry and its revision; ErrInvalidRefresh when there is none.
func (s *Sessions) Family(ctx context.Context, fam string) (familyEntry, uint64, error) {
	f, rev, err := getJSON[familyEntry](ctx, s.kv, familyKey(fam))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return f, 0, ErrInvalidRefresh
	}
	return f, rev, err
}

// AddToken stores a fresh refresh token hash of a family.
func (s *Sessions) AddToken(ctx context.Context, hash string, t tokenEntry) error {
	b, _ := json.Marshal(t)
	if _, err := s.kv.Create(ctx, tokenKey(hash), b); err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

// Spend marks a token spent if it still is at revision rev. A token that changed since
// (spent by a concurrent refresh) is ErrReused.
func (s *Sessions) Spend(ctx context.Context, hash string, t tokenEntry, rev uint64) error {
	t.Spent = true
	b, _ := json.Marshal(t)
	_, err := s.kv.Update(ctx, tokenKey(hash), b, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return ErrReused
	}
	if err != nil {
		return fmt.Errorf("spend refresh token: %w", err)
	}
	return nil
}

// UpdateFamily applies fn to the family under compare-and-swap, retrying on a concurrent
// change. fn's error aborts without writing. A missing family is ErrInvalidRefresh.
func (s *Sessions) UpdateFamily(ctx context.Context, fam string, fn func(*familyEntry) error) error {
	for range casRetries {
		f, rev, err := s.Family(ctx, fam)
		if err != nil {
			return err
		}
		if err := fn(&f); err != nil {
			return err
		}
		b, _ := json.Marshal(f)
		_, err = s.kv.Update(ctx, familyKey(fam), b, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		return nil
	}
	return fmt.Errorf("update session %s: too much contention", fam)
}

// Revoke ends a family; revoking a revoked or missing family is no error.
func (s *Sessions) Revoke(ctx context.Context, fam string) error {
	err := s.UpdateFamily(ctx, fam, func(f *familyEntry) error {
		if f.Revoked {
			return errAlreadyRevoked
		}
		f.Revoked = true
		return nil
	})
	if errors.Is(err, errAlreadyRevoked) || errors.Is(err, ErrInvalidRefresh) {
		return nil
	}
	return err
}

var errAlreadyRevoked = errors.New("already revoked")
