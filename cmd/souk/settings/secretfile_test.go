package settings

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/seal"
)

// secretFor is a valid value of the secret setting s, distinct from every other, and the
// settings its rules need beside it.
func secretFor(t *testing.T, s setting) (string, map[string]string) {
	t.Helper()
	word := "secret-of-" + strings.ToLower(s.env)
	key := seal.Generate
	switch {
	case s.check == "key":
		return key(), nil
	case s.check == "keys":
		return key() + "\n" + key(), map[string]string{"SOUK_SECRET_KEY": key()}
	case s.check == "smtp":
		return "smtp://shop:" + word + "@mail.example.com:587?from=shop@example.com", nil
	case s.secret == "url":
		return "http://user:" + word + "@host.example.com:7700", nil
	case s.env == "SOUK_ADMIN_PASSWORD":
		return word, map[string]string{"SOUK_ADMIN_EMAIL": "a@b.c"}
	}
	return word, nil
}

// TestEverySecretSettingReadsAFile goes over every setting with a secret tag, so a secret
// added later is covered: NAME_FILE gives its value (the trailing line break trimmed), NAME
// and NAME_FILE together are an error naming both, and a file that cannot be read is an
// error naming the variable and the path; no error and no log line holds the value.
func TestEverySecretSettingReadsAFile(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for _, s := range declared() {
		if s.secret == "" {
			continue
		}
		n++
		t.Run(s.env, func(t *testing.T) {
			value, companions := secretFor(t, s)
			path := filepath.Join(dir, s.env)
			if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{s.fileEnv(): path}
			for k, v := range companions {
				env[k] = v
			}
			c, _, err := Parse("t", nil, envOf(env), io.Discard)
			if err != nil {
				t.Fatalf("%s: %v", s.fileEnv(), err)
			}
			got := reflect.ValueOf(c).FieldByIndex(s.field.Index).Interface()
			want := any(value)
			if _, list := got.(List); list {
				want = List(splitList(value))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s read %v, want %v", s.fileEnv(), got, want)
			}
			var logged bytes.Buffer
			log := zerolog.New(&logged)
			log.Info().Object("config", c).Msg("x")
			noValue(t, "the log", logged.String(), value)

			env[s.env] = value
			_, _, err = Parse("t", nil, envOf(env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), s.env+" and "+s.fileEnv()+" are both set") {
				t.Fatalf("both set: %v", err)
			}
			noValue(t, "the error", err.Error(), value)

			delete(env, s.env)
			for _, bad := range []string{filepath.Join(dir, "missing"), dir, writeFile(t, dir, "empty", "\n")} {
				env[s.fileEnv()] = bad
				_, _, err = Parse("t", nil, envOf(env), io.Discard)
				if err == nil || !strings.Contains(err.Error(), s.fileEnv()) || !strings.Contains(err.Error(), bad) {
					t.Fatalf("%s=%s: want an error naming both, got %v", s.fileEnv(), bad, err)
				}
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d secret settings found", n)
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noValue fails if s shows value, an item of it (a list) or the password in it (a URL).
func noValue(t *testing.T, what, s, value string) {
	t.Helper()
	for _, part := range append(splitList(value), password.FindString(value)) {
		if part != "" && strings.Contains(s, part) {
			t.Fatalf("%s shows the secret %q: %s", what, part, s)
		}
	}
}

var password = regexp.MustCompile(`secret-of-[a-z_]+`)

// TestSecretKeySettings: a data-encryption key that is not the base64 of 32 bytes is refused
// without being repeated, as is a list of previous keys without a current one.
func TestSecretKeySettings(t *testing.T) {
	key := seal.Generate()
	for env, want := range map[string]string{
		"SOUK_SECRET_KEY":      "SOUK_SECRET_KEY (-secret-key) (secret): not base64",
		"SOUK_SECRET_KEYS_OLD": "SOUK_SECRET_KEYS_OLD (-secret-keys-old) (secret): key 2: want the base64 of 32 bytes",
	} {
		vars := map[string]string{"SOUK_SECRET_KEY": key, env: key + ",c2hvcnQta2V5"}
		_, _, err := Parse("t", nil, envOf(vars), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "c2hvcnQta2V5") || strings.Contains(err.Error(), key) {
			t.Errorf("%s: want %q, got %v", env, want, err)
		}
	}
	_, _, err := Parse("t", nil, envOf(map[string]string{"SOUK_SECRET_KEYS_OLD": key}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SOUK_SECRET_KEYS_OLD needs SOUK_SECRET_KEY") {
		t.Fatalf("old keys alone: %v", err)
	}
	var help bytes.Buffer
	PrintHelp(&help)
	if !strings.Contains(help.String(), "($DATABASE_URL or $DATABASE_URL_FILE)") || strings.Contains(help.String(), "$SOUK_HTTP_ADDR_FILE") {
		t.Fatalf("the help does not say which settings read a file:\n%s", help.String())
	}
}
