package user

import "fmt"

// Defaults of Config.
const (
	// DefaultBcryptCost is the bcrypt cost when Config.BcryptCost is zero.
	DefaultBcryptCost = 12
	// MinBcryptCost is the least cost accepted: OWASP's floor for bcrypt. A shop on small
	// machines with many logins may choose it (a hash is 4× cheaper than at 12); the
	// end-to-end tests do, since under the race detector a cost-12 hash takes seconds.
	MinBcryptCost = 10
	// DefaultVerifyURL is the base of the email verification link; the token is appended.
	// The gateway serves it (GET /v1/auth/verify-email?token=).
	DefaultVerifyURL = "http://127.0.0.1:8080/v1/auth/verify-email?token="
	// DefaultResetURL is the base of the password reset link; the token is appended. It is
	// the shop's own page, which asks for the new password and sends it with the token to
	// POST /v1/auth/password/reset.
	DefaultResetURL = "http://127.0.0.1:8080/reset-password?token="
)

// String describes the config with the admin password redacted, for logs.
func (c Config) String() string {
	pw := ""
	if c.AdminPassword != "" {
		pw = "xxxxx"
	}
	return fmt.Sprintf("user.Config{AdminEmail:%q AdminPassword:%q BcryptCost:%d VerifyURL:%q ResetURL:%q HashConcurrency:%d}",
		c.AdminEmail, pw, c.BcryptCost, c.VerifyURL, c.ResetURL, c.HashConcurrency)
}

func (c *Config) defaults() error {
	if c.BcryptCost == 0 {
		c.BcryptCost = DefaultBcryptCost
	}
	if c.BcryptCost < MinBcryptCost || c.BcryptCost > 31 {
		return fmt.Errorf("user: bcrypt cost %d out of range %d..31", c.BcryptCost, MinBcryptCost)
	}
	if c.VerifyURL == "" {
		c.VerifyURL = DefaultVerifyURL
	}
	if c.ResetURL == "" {
		c.ResetURL = DefaultResetURL
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2
	}
	return nil
}
