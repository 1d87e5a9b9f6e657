package subjects

import (
	"encoding/json"
	"time"
)

// Roles. Every registered user is a customer; staff and admin are granted by an admin;
// service is the role of the tokens the auth service mints for Souk's own service-to-service
// calls and is never granted to a user.
const (
	RoleCustomer = "customer"
	RoleStaff    = "staff"
	RoleAdmin    = "admin"
	RoleService  = "service"
)

// UserRoles are the roles an admin may grant to a user.
var UserRoles = []string{RoleCustomer, RoleStaff, RoleAdmin}

// The user service: accounts, credentials, profiles, addresses, email verification.
var (
	// UserRegister creates an account (anyone).
	UserRegister = Endpoint[RegisterRequest, User]{Subject: "souk.user.v1.user.register", Access: Public}
	// UserVerifyCredentials checks an email and password and returns who it is; 401 for any
	// mismatch, unknown email included. Only the auth service (role service) may call it.
	UserVerifyCredentials = Endpoint[CredentialsRequest, Principal]{Subject: "souk.user.v1.credentials.verify", Access: internalAccess}
	// UserPrincipal returns the current id and roles of a user, for the auth service's
	// refresh (role service).
	UserPrincipal = Endpoint[UserIDRequest, Principal]{Subject: "souk.user.v1.principal.get", Access: internalAccess}
	// UserMe returns the caller's own profile.
	UserMe = Endpoint[Empty, User]{Subject: "souk.user.v1.me.get", Access: profileAccess}
	// UserUpdateMe changes the caller's name, locale or addresses.
	UserUpdateMe = Endpoint[UpdateMeRequest, User]{Subject: "souk.user.v1.me.update", Access: profileAccess}
	// UserVerifyEmail consumes an email verification token (anyone holding the token): it
	// marks the address verified or, for a token of a change of email, makes the new address
	// the account's. 400 (field token) for a token unknown, spent or expired; 409 when the new
	// address was taken meanwhile.
	UserVerifyEmail = Endpoint[VerifyEmailRequest, Empty]{Subject: "souk.user.v1.email.verify", Access: Public}
	// UserResendVerification sends the caller a new verification link; the older links stop
	// working. 409 when the address is verified; 429 with RetryAfter past the per-account limit.
	UserResendVerification = Endpoint[Empty, Empty]{Subject: "souk.user.v1.email.resend", Access: profileAccess}
	// UserChangeEmail starts a change of the caller's email: the new address is sent a link,
	// and the account's email changes only when it is used (UserVerifyEmail); the current
	// address is told. The password is required. 409 when the address is taken.
	UserChangeEmail = Endpoint[ChangeEmailRequest, Empty]{Subject: "souk.user.v1.email.change", Access: profileAccess}
	// UserForgotPassword mails a password reset link to the account of an email, if there is
	// one; the answer is the same either way (anyone).
	UserForgotPassword = Endpoint[ForgotPasswordRequest, Empty]{Subject: "souk.user.v1.password.forgot", Access: Public}
	// UserResetPassword sets a new password with a reset token and revokes every session of
	// the account (anyone holding the token). 400 (field token) for a token unknown, spent or
	// expired, and nothing changes.
	UserResetPassword = Endpoint[ResetPasswordRequest, Empty]{Subject: "souk.user.v1.password.reset", Access: Public}
	// UserChangePassword changes the caller's password given the current one; the account's
	// other sessions are revoked.
	UserChangePassword = Endpoint[ChangePasswordRequest, Empty]{Subject: "souk.user.v1.password.change", Access: profileAccess}
	// UserList lists accounts (admin).
	UserList = Endpoint[ListRequest, UserPage]{Subject: "souk.user.v1.user.list", Access: Require(PermUsersAdmin)}
	// UserSetRoles replaces a user's roles (admin).
	UserSetRoles = Endpoint[SetRolesRequest, User]{Subject: "souk.user.v1.user.set_roles", Access: Require(PermUsersAdmin)}
	// UserByEmail finds the account an email belongs to; 404 when none does. Staff who read
	// every order may ask (the order service does, with its caller's token, to list a
	// customer's orders by email); no customer can probe for accounts with it.
	UserByEmail = Endpoint[UserEmailRequest, UserRef]{Subject: "souk.user.v1.user.by_email", Access: Require(PermOrdersAll)}
)

// The auth service: signing keys, access tokens, refresh sessions.
var (
	// AuthLogin exchanges an email and password for a token pair (anyone).
	AuthLogin = Endpoint[LoginRequest, TokenPair]{Subject: "souk.auth.v1.session.login", Access: Public}
	// AuthRefresh rotates a refresh token into a new pair; a spent token revokes its whole
	// session family (anyone holding the token).
	AuthRefresh = Endpoint[RefreshRequest, TokenPair]{Subject: "souk.auth.v1.session.refresh", Access: Public}
	// AuthLogout ends the session of a refresh token that belongs to the caller.
	AuthLogout = Endpoint[RefreshRequest, Empty]{Subject: "souk.auth.v1.session.logout", Access: profileAccess}
	// AuthJWKS returns the public signing keys, current and still-valid old ones (anyone).
	AuthJWKS = Endpoint[Empty, JWKS]{Subject: "souk.auth.v1.jwks.get", Access: Public}
	// AuthRotateKey makes a new signing key current; the old one stays published until the
	// tokens it signed have expired (admin).
	AuthRotateKey = Endpoint[Empty, KeyInfo]{Subject: "souk.auth.v1.key.rotate", Access: Require(PermKeysAdmin)}
)

// RegisterRequest is the body of POST /v1/auth/register.
type RegisterRequest struct {
	Email    string `json:"email" required:"true"`
	Password string `json:"password" required:"true"`
	Name     string `json:"name" required:"true"`
	// Locale is a BCP 47 tag such as "en" or "de-AT"; "en" when empty.
	Locale string `json:"locale,omitempty"`
}

// CredentialsRequest carries a login attempt to the user service.
type CredentialsRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// UserIDRequest names one user.
type UserIDRequest struct {
	ID string `json:"id"`
}

// Principal is who a token speaks for.
type Principal struct {
	UserID string   `json:"user_id"`
	Roles  []string `json:"roles"`
	// NotBefore is the account's latest revocation's not-before time (Unix seconds, 0 for
	// none): the auth service dates the tokens it issues no earlier, so they pass it.
	NotBefore int64 `json:"not_before,omitempty"`
	// SessionsNotBefore ends the refresh sessions started before it (Unix seconds, 0 for
	// none): an account removed, a password changed.
	SessionsNotBefore int64 `json:"sessions_not_before,omitempty"`
}

// Address is a postal address of a user's address book or of an order.
type Address struct {
	Name       string `json:"name" required:"true"`
	Line1      string `json:"line1" required:"true"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city" required:"true"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code" required:"true"`
	// Country is ISO 3166-1 alpha-2, upper case.
	Country string `json:"country" required:"true"`
	Phone   string `json:"phone,omitempty"`
}

// User is an account's profile as its owner and admins see it. It never carries credentials.
type User struct {
	ID            string    `json:"id" required:"true"`
	Email         string    `json:"email" required:"true"`
	Name          string    `json:"name" required:"true"`
	Locale        string    `json:"locale" required:"true"`
	Roles         []string  `json:"roles" required:"true" enum:"UserRoles"`
	EmailVerified bool      `json:"email_verified" required:"true"`
	Addresses     []Address `json:"addresses" required:"true"`
	CreatedAt     time.Time `json:"created_at" required:"true"`
}

// UpdateMeRequest is the body of PATCH /v1/users/me; absent fields stay as they are.
type UpdateMeRequest struct {
	Name      *string    `json:"name,omitempty"`
	Locale    *string    `json:"locale,omitempty"`
	Addresses *[]Address `json:"addresses,omitempty"`
}

// VerifyEmailRequest is the body of POST /v1/auth/verify-email.
type VerifyEmailRequest struct {
	Token string `json:"token" required:"true"`
}

// ChangeEmailRequest is the body of POST /v1/users/me/email.
type ChangeEmailRequest struct {
	// Email is the new address; it receives the verification link.
	Email string `json:"email"`
	// Password is the account's current password.
	Password string `json:"password"`
}

// ForgotPasswordRequest is the body of POST /v1/auth/password/forgot.
type ForgotPasswordRequest struct {
	Email string `json:"email"`
}

// ResetPasswordRequest is the body of POST /v1/auth/password/reset.
type ResetPasswordRequest struct {
	// Token is the token of the reset link.
	Token string `json:"token"`
	// Password is the new password; the password policy applies.
	Password string `json:"password"`
}

// ChangePasswordRequest is the body of POST /v1/users/me/password.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// ListRequest asks for one page of a keyset-paginated list.
type ListRequest struct {
	// Limit is the page size, 1..100; 20 when zero.
	Limit int `json:"limit,omitempty"`
	// Cursor is the opaque next_cursor of the previous page.
	Cursor string `json:"cursor,omitempty"`
}

// UserEmailRequest names an account by its email.
type UserEmailRequest struct {
	Email string `json:"email"`
}

// UserRef names an account.
type UserRef struct {
	ID string `json:"id" required:"true"`
}

// UserPage is one page of users.
type UserPage struct {
	Items      []User `json:"items" required:"true"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// SetRolesRequest is the body of PUT /v1/admin/users/{id}/roles.
type SetRolesRequest struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles" required:"true" enum:"UserRoles"`
}

// LoginRequest is the body of POST /v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email" required:"true"`
	Password string `json:"password" required:"true"`
}

// RefreshRequest is the body of POST /v1/auth/refresh and /v1/auth/logout.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token" required:"true"`
}

// TokenPair is the answer to a login or a refresh.
type TokenPair struct {
	AccessToken  string `json:"access_token" required:"true"`
	RefreshToken string `json:"refresh_token" required:"true"`
	// TokenType is always "Bearer".
	TokenType string `json:"token_type" required:"true"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int `json:"expires_in" required:"true"`
}

// JWKS is a JSON Web Key Set (RFC 7517) of public keys, passed through as raw JSON.
type JWKS struct {
	Keys []json.RawMessage `json:"keys" required:"true"`
}

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	KID       string    `json:"kid"`
	Algorithm string    `json:"alg"`
	CreatedAt time.Time `json:"created_at"`
}

// User events, on the USERS stream: souk.evt.user.<event>.<user id>. They carry the contact
// details other services keep a copy of (the notification service's recipients), so nobody
// has to ask the user service for them at sending time.
//
// The events that carry a link (registered, verification_requested, email_change_requested,
// password_reset_requested) carry a single-use secret, kept in the stream only until the
// notification service has applied it (USERS is an interest stream).
var (
	EvtUserRegistered = event[UserRegistered](StreamUsers, "souk.evt.user.registered")
	EvtUserUpdated    = event[UserUpdated](StreamUsers, "souk.evt.user.updated")
	// EvtUserVerificationRequested: a new verification link for the account's address.
	EvtUserVerificationRequested = event[UserLink](StreamUsers, "souk.evt.user.verification_requested")
	// EvtUserEmailChangeRequested: a link that makes Email, a new address, the account's; it
	// goes to Email, and the current address is told.
	EvtUserEmailChangeRequested = event[UserLink](StreamUsers, "souk.evt.user.email_change_requested")
	// EvtUserPasswordResetRequested: a password reset link for the account's address.
	EvtUserPasswordResetRequested = event[UserLink](StreamUsers, "souk.evt.user.password_reset_requested")
	// EvtUserPasswordChanged: the password was changed (Reason "change") or reset ("reset").
	EvtUserPasswordChanged = event[UserPasswordChanged](StreamUsers, "souk.evt.user.password_changed")
)

// UserLink is the payload of the events that mail a link to a user: Link holds a single-use
// secret that expires at ExpiresAt.
type UserLink struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	UserID     string    `json:"user_id"`
	// Email is the address the link goes to: the account's, or the new one of a change.
	Email     string    `json:"email"`
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Reasons of a password change.
const (
	PasswordChangedByUser  = "change"
	PasswordChangedByReset = "reset"
)

// UserPasswordChanged is the payload of user.password_changed.
type UserPasswordChanged struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	UserID     string    `json:"user_id"`
	// Reason is PasswordChangedByUser or PasswordChangedByReset.
	Reason string `json:"reason"`
}

// UserRegistered is the payload of user.registered: a new account, and the link that
// verifies its email address. VerifyLink holds a single-use secret that expires at
// VerifyExpiresAt; it is absent for accounts created verified (the admin).
type UserRegistered struct {
	EventID         string     `json:"event_id"`
	OccurredAt      time.Time  `json:"occurred_at"`
	UserID          string     `json:"user_id"`
	Email           string     `json:"email"`
	Name            string     `json:"name"`
	Locale          string     `json:"locale"`
	VerifyLink      string     `json:"verify_link,omitempty"`
	VerifyExpiresAt *time.Time `json:"verify_expires_at,omitempty"`
}

// UserUpdated is the payload of user.updated: the account's contact details as they are
// now. OccurredAt orders them: a copy keeps the latest.
type UserUpdated struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	UserID     string    `json:"user_id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Locale     string    `json:"locale"`
}
