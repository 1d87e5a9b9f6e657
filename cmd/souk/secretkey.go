package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/seal"
)

// devKeyFile is the data directory's file holding the development data-encryption key, made
// on the first start of a shop with the embedded NATS server and no SOUK_SECRET_KEY.
const devKeyFile = "secret.key"

// sealing are the services that seal secrets in PostgreSQL (signing keys, webhook secrets)
// and so need the data-encryption key; the others are never given it.
var sealing = []string{"auth", "notification"}

// dataKey returns the data-encryption keyring of a process running picked: SOUK_SECRET_KEY
// and SOUK_SECRET_KEYS_OLD when set. Without them, a shop on the embedded NATS server (a
// development shop, whose data directory is locked to it) uses the key in its data
// directory, made there on its first start, and says loudly that production sets its own;
// a process joining NATS_URL (production's shape) that runs a sealing service is refused.
// nil when no picked service seals.
func dataKey(cfg Config, picked []service, log zerolog.Logger) (*seal.Keyring, error) {
	if !slices.ContainsFunc(picked, func(s service) bool { return slices.Contains(sealing, s.name) }) {
		return nil, nil
	}
	if cfg.SecretKey != "" {
		r, err := seal.Parse(cfg.SecretKey, cfg.SecretKeysOld)
		if err != nil {
			return nil, fmt.Errorf("SOUK_SECRET_KEY: %w", err)
		}
		log.Info().Str("key_id", r.ID()).Int("previous_keys", len(cfg.SecretKeysOld)).Msg("data-encryption key from SOUK_SECRET_KEY")
		return r, nil
	}
	if cfg.NATSURL != "" {
		return nil, errors.New("SOUK_SECRET_KEY (or SOUK_SECRET_KEY_FILE) is required to run auth or notification with NATS_URL: " +
			"it seals the signing keys and webhook secrets in PostgreSQL, and every instance needs the same one. " +
			"Make one with: head -c32 /dev/urandom | base64 (docs/operations.md)")
	}
	path := filepath.Join(cfg.DataDir, devKeyFile)
	key, made, err := devKey(path)
	if err != nil {
		return nil, err
	}
	r, err := seal.Parse(key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (delete it only if nothing was sealed with it, or set SOUK_SECRET_KEY)", path, err)
	}
	log.Warn().Str("file", path).Bool("made_now", made).Str("key_id", r.ID()).
		Msg("SOUK_SECRET_KEY is not set: signing keys and webhook secrets are sealed with the development key in the data directory. " +
			"Production must set SOUK_SECRET_KEY or SOUK_SECRET_KEY_FILE (docs/operations.md)")
	return r, nil
}

// devKey reads the development key at path, or makes it (mode 0600) when there is none.
// The data directory is locked by this process, so no other shop makes one at once.
func devKey(path string) (key string, made bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", false, fmt.Errorf("%s is readable by others: %w", path, err)
			}
		}
		return string(b), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("development data-encryption key: %w", err)
	}
	key = seal.Generate()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("development data-encryption key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("development data-encryption key %s: %w", path, err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return "", false, fmt.Errorf("development data-encryption key %s: %w", path, err)
	}
	return key, true, nil
}
