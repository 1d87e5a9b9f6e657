// Package user is Souk's user service: accounts, bcrypt credentials, profiles, address books
// and email verification.
//
// It owns the PostgreSQL schema "users" (tables users and email_verifications) and serves
// the subjects.User* endpoints as the micro service "user". It publishes user.registered
// (which carries the verification link to the notification service) and user.updated on the
// USERS stream through its outbox, and consumes nothing. Passwords are kept only as bcrypt
// hashes (cost ≥ MinBcryptCost); verification tokens only as SHA-256 hashes, and neither
// the password nor the link is ever logged.
package user

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/souk/souk/subjects"
)

// Domain errors. The store returns them; wireError in handlers.go maps them to the wire.
var (
	// ErrNotFound is an unknown user.
	ErrNotFound = errors.New("user not found")
	// ErrEmailTaken is a registration with an email that has an account already.
	ErrEmailTaken = errors.New("email taken")
	// ErrInvalidToken is an email verification or password reset token that is unknown,
	// used, expired or void.
	ErrInvalidToken = errors.New("invalid token")
	// ErrAlreadyVerified is a new verification link asked for an address that is verified.
	ErrAlreadyVerified = errors.New("email already verified")
	// ErrPasswordChanged is a password change that lost the race against another one.
	ErrPasswordChanged = errors.New("password changed meanwhile")
	// ErrBadCredentials is an unknown email or a wrong password; the two are never told apart.
	ErrBadCredentials = errors.New("invalid credentials")
)

// Limits of the profile.
const (
	// MinPasswordRunes is the shortest password accepted.
	MinPasswordRunes = 10
	// MaxPasswordBytes is bcrypt's input limit; a longer password is refused, never truncated.
	MaxPasswordBytes = 72
	// MaxEmailBytes is the longest email accepted (RFC 5321 path limit).
	MaxEmailBytes = 254
	// MaxNameRunes bounds a user's name.
	MaxNameRunes = 200
	// MaxAddresses bounds a user's address book.
	MaxAddresses = 20
	// DefaultLocale is the locale of a user who gives none.
	DefaultLocale = "en"
)

//go:embed common_passwords.txt
var commonPasswordsTxt []byte

// commonPasswords holds the embedded list, lower-cased.
var commonPasswords = func() map[string]struct{} {
	m := make(map[string]struct{}, 256)
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordsTxt))
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = struct{}{}
		}
	}
	return m
}()

// NormalizeEmail trims and lower-cases email and checks that it is one plain address of at
// most MaxEmailBytes. The message of the error is fit for the client.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	switch {
	case e == "":
		return "", errors.New("is required")
	case len(e) > MaxEmailBytes:
		return "", errors.New("must be at most " + strconv.Itoa(MaxEmailBytes) + " bytes")
	}
	addr, err := mail.ParseAddress(e)
	// ParseAddress also accepts `Name <a@b>`; only the bare address is an email here.
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", errors.New("is not a valid email address")
	}
	return e, nil
}

// CheckPassword applies the password policy: at least MinPasswordRunes characters, at most
// MaxPasswordBytes bytes, not a common password, not the email or its local part. email is
// the normalised email. The message of the error is fit for the client and never contains
// the password.
func CheckPassword(password, email string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordRunes:
		return errors.New("must be at least " + strconv.Itoa(MinPasswordRunes) + " characters")
	case len(password) > MaxPasswordBytes:
		return errors.New("must be at most " + strconv.Itoa(MaxPasswordBytes) + " bytes")
	}
	lower := strings.ToLower(password)
	if _, common := commonPasswords[lower]; common {
		return errors.New("is too common")
	}
	if email != "" {
		local, _, _ := strings.Cut(email, "@")
		if strings.Contains(lower, email) || (utf8.RuneCountInString(local) >= 3 && strings.Contains(lower, local)) {
			return errors.New("must not contain your email address")
		}
	}
	return nil
}

// CheckLocale is subjects.CheckLocale with the user's rule that no locale means
// DefaultLocale: it returns the canonical tag and what is wrong, "" when nothing is.
func CheckLocale(locale string) (string, string) {
	if strings.TrimSpace(locale) == "" {
		return DefaultLocale, ""
	}
	l, ok := subjects.CheckLocale(locale)
	if !ok {
		return "", subjects.LocaleProblem
	}
	return l, ""
}

// CheckAddresses validates an address book and returns it with its text fields trimmed, or
// the problems, each naming its field ("addresses[0].country").
func CheckAddresses(addrs []subjects.Address) ([]subjects.Address, subjects.Problems) {
	if len(addrs) > MaxAddresses {
		return nil, subjects.Problems{{Field: "addresses", Message: "at most " + strconv.Itoa(MaxAddresses) + " addresses"}}
	}
	var p subjects.Problems
	out := make([]subjects.Address, len(addrs))
	for i, a := range addrs {
		prefix := "addresses[" + strconv.Itoa(i) + "]."
		subjects.CheckAddressText(prefix, &a, &p)
		if a.Country != "" && !isCountry(a.Country) {
			p.Add(prefix+"country", "must be an ISO 3166-1 alpha-2 code in upper case, such as DE")
		}
		out[i] = a
	}
	return out, p
}

// isCountry reports whether c is an upper-case ISO 3166-1 alpha-2 country code.
func isCountry(c string) bool {
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return false
	}
	r, err := language.ParseRegion(c)
	return err == nil && r.IsCountry()
}
