package subjects

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// payloads is one filled-in sample of every type that crosses the wire. A change to a field
// name or type changes its golden file, which a reviewer then sees.
var payloads = map[string]any{
	"error":             &Error{Code: 400, Slug: "validation", Message: "password: too short", Fields: []FieldError{{Field: "password", Message: "too short"}}, RetryAfter: 0},
	"register_request":  RegisterRequest{Email: "ada@example.com", Password: "correct horse battery", Name: "Ada", Locale: "en"},
	"credentials":       CredentialsRequest{Email: "ada@example.com", Password: "correct horse battery"},
	"user_id_request":   UserIDRequest{ID: "0190c0de-0000-7000-8000-000000000001"},
	"principal":         Principal{UserID: "0190c0de-0000-7000-8000-000000000001", Roles: []string{RoleCustomer}},
	"user":              User{ID: "0190c0de-0000-7000-8000-000000000001", Email: "ada@example.com", Name: "Ada", Locale: "en", Roles: []string{RoleCustomer}, EmailVerified: true, Addresses: []Address{{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}}, CreatedAt: at},
	"update_me_request": UpdateMeRequest{Name: ptr("Ada L."), Locale: ptr("de"), Addresses: &[]Address{}},
	"verify_email":      VerifyEmailRequest{Token: "tok"},
	"list_request":      ListRequest{Limit: 20, Cursor: "abc"},
	"user_page":         UserPage{Items: []User{}, NextCursor: "abc"},
	"set_roles_request": SetRolesRequest{ID: "0190c0de-0000-7000-8000-000000000001", Roles: []string{RoleCustomer, RoleStaff}},
	"login_request":     LoginRequest{Email: "ada@example.com", Password: "correct horse battery"},
	"refresh_request":   RefreshRequest{RefreshToken: "rt"},
	"token_pair":        TokenPair{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", ExpiresIn: 900},
	"jwks":              JWKS{Keys: []json.RawMessage{json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"AA","kid":"k1","alg":"EdDSA","use":"sig"}`)}},
	"key_info":          KeyInfo{KID: "k1", Algorithm: "EdDSA", CreatedAt: at},
}

func ptr[T any](v T) *T { return &v }

func TestGoldenPayloads(t *testing.T) {
	for name, v := range payloads {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./subjects -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed on the wire:\n got %s\nwant %s\nContracts only grow: add optional fields, or make a v2 subject.", name, got, want)
			}
		})
	}
}
