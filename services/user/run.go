package user

import (
	"context"
	"embed"

	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the user service owns.
const Schema = "users"

// Config configures the user service; config.go holds its defaults and checks.
type Config struct {
	// AdminEmail and AdminPassword, when both are set, name an account that the service makes
	// sure exists and holds the admin role when it starts (SOUK_ADMIN_EMAIL,
	// SOUK_ADMIN_PASSWORD). An existing account keeps its password. The password must pass
	// the password policy.
	AdminEmail    string
	AdminPassword string `json:"-"`
	// BcryptCost is the bcrypt work factor (SOUK_BCRYPT_COST); DefaultBcryptCost when zero,
	// never less than MinBcryptCost.
	BcryptCost int
	// VerifyURL is the base of the email verification link, to which the token is appended;
	// DefaultVerifyURL when empty.
	VerifyURL string
	// ResetURL is the base of the password reset link, to which the token is appended;
	// DefaultResetURL when empty.
	ResetURL string
	// HashConcurrency bounds the bcrypt computations in flight; 2 (the cores of the reference
	// machine) when zero.
	HashConcurrency int
}

// Service declares the user service: its endpoints, the user events it publishes and, at
// start, the admin account of cfg. A cfg out of range is an error.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	h := newHandlers(NewStore(deps.DB), cfg.BcryptCost, cfg.VerifyURL, cfg.HashConcurrency)
	h.resetURL, h.resets = cfg.ResetURL, newResetRequests(deps.Logger("user"))
	return kit.Service{
		Name: "user", Version: "0.1.0", Description: "accounts, credentials, profiles, email verification",
		Schema: Schema, Migrations: migrationsFS,
		Publishes: []subjects.EventKind{subjects.EvtUserRegistered.EventKind, subjects.EvtUserUpdated.EventKind, subjects.EvtUserRevoked.EventKind,
			subjects.EvtUserVerificationRequested.EventKind, subjects.EvtUserEmailChangeRequested.EventKind,
			subjects.EvtUserPasswordResetRequested.EventKind, subjects.EvtUserPasswordChanged.EventKind},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.UserRegister, h.register),
			rpc.Bind(subjects.UserVerifyCredentials, h.verifyCredentials),
			rpc.Bind(subjects.UserPrincipal, h.principal),
			rpc.Bind(subjects.UserMe, h.me),
			rpc.Bind(subjects.UserUpdateMe, h.updateMe),
			rpc.Bind(subjects.UserVerifyEmail, h.verifyEmail),
			rpc.Bind(subjects.UserResendVerification, h.resendVerification),
			rpc.Bind(subjects.UserChangeEmail, h.changeEmail),
			rpc.Bind(subjects.UserForgotPassword, h.forgotPassword),
			rpc.Bind(subjects.UserResetPassword, h.resetPassword),
			rpc.Bind(subjects.UserChangePassword, h.changePassword),
			rpc.Bind(subjects.UserList, h.list),
			rpc.Bind(subjects.UserSetRoles, h.setRoles),
			rpc.Bind(subjects.UserRemove, h.remove),
			rpc.Bind(subjects.UserByEmail, h.byEmail),
		},
		Start: func(ctx context.Context) error {
			return h.ensureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword, deps.Logger("user"))
		},
	}, nil
}
