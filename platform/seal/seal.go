// Package seal encrypts the secrets Souk must keep recoverable (the auth service's signing
// keys, the outgoing webhooks' secrets) before they reach PostgreSQL: AES-256-GCM under a
// data-encryption key the process is given (SOUK_SECRET_KEY), never one kept beside the data.
//
// A sealed value is
//
//	version (1 byte) · key id (4 bytes) · nonce (12 bytes) · ciphertext and GCM tag
//
// The key id is the start of SHA-256 over a label and the key, so a value names the key that
// sealed it: a Keyring holds the current key, which seals, and the previous ones, which only
// open (rotation), and Reseal moves a table's values onto the current key. The additional
// data binds a value to its Place (table, column, row id) and to its header: a sealed value
// copied onto another row, or into another column, does not open.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a data-encryption key: 32 bytes, AES-256.
const KeySize = 32

const (
	version    = 1
	idSize     = 4
	headerSize = 1 + idSize
	nonceSize  = 12
	overhead   = headerSize + nonceSize + 16 // the GCM tag
)

// ErrUnknownKey is the error of Open for a value sealed under a key the Keyring does not
// hold: neither the current key nor one of the previous ones.
var ErrUnknownKey = errors.New("sealed under a key this process does not have")

// ErrOpen is the error of Open for a value that is not a sealed value, was changed, or was
// sealed for another Place.
var ErrOpen = errors.New("sealed value does not open: damaged, or sealed for another place")

// Place is where a sealed value is kept; it is bound into the value, so the value opens only
// there.
type Place struct {
	// Table is the schema-qualified table: "auth.signing_keys".
	Table string
	// Column is the column whose value it is: "private_key".
	Column string
	// Row is the row's primary key, as text.
	Row string
}

// aad is the additional data of a value sealed at p with header: both are authenticated.
func (p Place) aad(header []byte) []byte {
	var b bytes.Buffer
	b.WriteString("souk.seal.v1")
	for _, s := range []string{p.Table, p.Column, p.Row} {
		b.WriteByte(0)
		b.WriteString(s)
	}
	b.WriteByte(0)
	b.Write(header)
	return b.Bytes()
}

// key is one data-encryption key, ready to use.
type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Keyring is the current data-encryption key and the previous ones. It is safe for
// concurrent use.
type Keyring struct {
	current *key
	keys    map[[idSize]byte]*key
}

// New returns the Keyring that seals with current and opens with current and old (the keys
// of earlier rotations). Each key is KeySize bytes; the same key twice is allowed (an old
// list not yet pruned), two keys with the same id are not.
func New(current []byte, old ...[]byte) (*Keyring, error) {
	r := &Keyring{keys: map[[idSize]byte]*key{}}
	for i, raw := range append([][]byte{current}, old...) {
		k, err := newKey(raw)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.current = k
		}
		if _, dup := r.keys[k.id]; dup {
			continue
		}
		r.keys[k.id] = k
	}
	return r, nil
}

func newKey(raw []byte) (*key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("seal: a key is %d bytes, not %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &key{id: keyID(raw), aead: aead}, nil
}

// keyID names a key without revealing it: the start of SHA-256 over a label and the key.
func keyID(raw []byte) [idSize]byte {
	sum := sha256.Sum256(append([]byte("souk.seal.key-id\x00"), raw...))
	return [idSize]byte(sum[:idSize])
}

// Parse returns the Keyring of current and old, each the base64 of KeySize bytes (as
// Generate makes them). Its errors say which key is wrong, never what it holds.
func Parse(current string, old []string) (*Keyring, error) {
	cur, err := ParseKey(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	var olds [][]byte
	for i, s := range old {
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("previous key %d: %w", i+1, err)
		}
		olds = append(olds, k)
	}
	return New(cur, olds...)
}

// ParseKey decodes one key: base64 (standard or URL alphabet, padded or not) of KeySize
// bytes, surrounding spaces ignored. The error never repeats s.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("want the base64 of %d bytes (head -c32 /dev/urandom | base64), got %d bytes", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64: want the base64 of %d bytes (head -c32 /dev/urandom | base64)", KeySize)
}

// Generate returns a new random key, base64-encoded as Parse reads it (crypto/rand never
// fails since Go 1.24: it crashes the program rather than return predictable bytes).
func Generate() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// MustParse is Parse for keys known to be good (tests, Generate's): it panics on an error.
func MustParse(current string, old ...string) *Keyring {
	r, err := Parse(current, old)
	if err != nil {
		panic(err)
	}
	return r
}

// ID is the current key's id in hex, for logs and error messages: it names the key and
// reveals nothing of it.
func (r *Keyring) ID() string { return hex.EncodeToString(r.current.id[:]) }

// Header is how every value sealed under the current key begins; a stored value that does
// not begin with it is to be sealed again (Reseal finds such rows by it).
func (r *Keyring) Header() []byte { return append([]byte{version}, r.current.id[:]...) }

// Seal encrypts plain for p under the current key.
func (r *Keyring) Seal(plain []byte, p Place) ([]byte, error) {
	header := r.Header()
	out := make([]byte, headerSize+nonceSize, len(plain)+overhead)
	copy(out, header)
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return r.current.aead.Seal(out, out[headerSize:], plain, p.aad(header)), nil
}

// Open decrypts a value Seal made for p, under whichever key of the Keyring sealed it:
// ErrUnknownKey when it holds none, ErrOpen when the value is damaged or was sealed for
// another Place.
func (r *Keyring) Open(sealed []byte, p Place) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != version {
		return nil, ErrOpen
	}
	k, ok := r.keys[[idSize]byte(sealed[1:headerSize])]
	if !ok {
		return nil, fmt.Errorf("%w (key id %x)", ErrUnknownKey, sealed[1:headerSize])
	}
	plain, err := k.aead.Open(nil, sealed[headerSize:headerSize+nonceSize], sealed[headerSize+nonceSize:], p.aad(sealed[:headerSize]))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Current reports whether sealed was sealed under the current key.
func (r *Keyring) Current(sealed []byte) bool { return bytes.HasPrefix(sealed, r.Header()) }
