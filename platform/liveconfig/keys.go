package liveconfig

import (
	"regexp"
	"strings"
	"time"
)

// The keys of the config bucket. Each is declared here once; the settings of cmd/souk take
// the bounds of theirs from here (their live tag), docs/operations.md's table is generated
// from Keys, and `souk config set` checks a value against them before it puts it.
var (
	// RateIP is the gateway's per-IP token bucket rate.
	RateIP = Int("gateway.rate_ip", 1, 1_000_000, "SOUK_RATE_IP",
		"requests per second per client IP (burst twice that), in every gateway")
	// RateAccount is the gateway's per-account token bucket rate.
	RateAccount = Int("gateway.rate_account", 1, 1_000_000, "SOUK_RATE_ACCOUNT",
		"requests per second per signed-in account (burst twice that), in every gateway")
	// LoginAttempts are the failed logins one address may make on one email before it waits.
	LoginAttempts = Int("gateway.login_attempts", 1, 1_000_000, "SOUK_LOGIN_ATTEMPTS",
		"failed logins one client address may make on one email before each next attempt waits; from the next failure on")
	// LoginEmailAttempts are the failed logins on one email from any address before it waits.
	LoginEmailAttempts = Int("gateway.login_email_attempts", 1, 1_000_000, "SOUK_LOGIN_EMAIL_ATTEMPTS",
		"failed logins on one email from any address before each next attempt at it waits; from the next failure on")
	// LoginAddressAttempts are the failed logins one address may make across all emails.
	LoginAddressAttempts = Int("gateway.login_address_attempts", 1, 1_000_000, "SOUK_LOGIN_ADDRESS_ATTEMPTS",
		"failed logins one client address may make across all emails before each next attempt waits; from the next failure on")
	// ReservationTTL is how long the inventory holds stock for an unpaid order, and how long
	// the order service lets an order wait for the inventory's answer.
	ReservationTTL = Duration("inventory.reservation_ttl", time.Second, 24*time.Hour, "SOUK_RESERVATION_TTL",
		"how long stock stays held for an unpaid order, from the next reservation on; also how long an order may wait for the inventory to answer")
	// MaxCheckouts bounds the checkouts in progress: orders placed and not yet paid or
	// cancelled. A placement over it is refused 503 with Retry-After (services/order).
	MaxCheckouts = Int("order.max_checkouts", 0, 1_000_000, "SOUK_MAX_CHECKOUTS",
		"orders placed in the last minute and not yet paid or cancelled that the shop holds at once; more placements get 503 with Retry-After at once; 0: no bound")
	// LogLevel is the least level every process logs.
	LogLevel = Level("log.level", "SOUK_LOG_LEVEL", "the least level every process logs, at once")
	// Checkout switches order placement: off, a placement is a 503 checkout_paused.
	Checkout = Switch("features.checkout", "",
		"placing orders (POST /v1/orders); off: a 503 checkout_paused with Retry-After, orders already placed go on").WithDefault(true)
	// Registration switches new accounts: off, a registration is a 503 registration_paused.
	Registration = Switch("features.registration", "",
		"creating accounts (POST /v1/auth/register); off: a 503 registration_paused, existing accounts sign in").WithDefault(true)
	// Reviews switches new product reviews: off, writing one is a 503 reviews_paused.
	Reviews = Switch("features.reviews", "",
		"writing product reviews; off: a 503 reviews_paused, published reviews stay readable").WithDefault(true)
	// BreakerFailures is how many provider calls in a row must fail for the payment
	// provider's circuit breaker to open.
	BreakerFailures = Int("payment.breaker_failures", 1, 1000, "",
		"failed payment provider calls in a row that open the circuit breaker; a change applies at the next failure").WithDefault(5)
	// BreakerOpenFor is how long the open breaker refuses calls before it tries one.
	BreakerOpenFor = Duration("payment.breaker_open_for", time.Second, time.Hour, "",
		"how long the open payment breaker refuses calls before it tries one; a change builds a new breaker, closed, its counts at zero").WithDefault(10 * time.Second)
)

// canaryPrefix begins the canary keys, one per service: canary.<service>.
const canaryPrefix = "canary."

// Canary is the key of service's canary share: the percent of its requests that its
// instances started with a version label take (0 to 100).
func Canary(service string) Key[int] {
	return Int(canaryPrefix+service, 0, 100, "",
		"percent of the service's requests its canary instances take; 0 sends none, 100 all").WithDefault(0)
}

// serviceName is what may follow canary.: a service's name.
var serviceName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Keys are every declared key, in the order of docs/operations.md's table; the canary keys
// stand as one, canary.<service>.
func Keys() []Declared {
	return []Declared{RateIP, RateAccount, LoginAttempts, LoginEmailAttempts, LoginAddressAttempts, ReservationTTL, MaxCheckouts, LogLevel, Checkout, Registration, Reviews,
		BreakerFailures, BreakerOpenFor, Canary("<service>")}
}

// Lookup returns the declared key named name (canary.order is the canary key of order);
// false when there is none, so a typo is refused at `souk config set`.
func Lookup(name string) (Declared, bool) {
	if svc, ok := strings.CutPrefix(name, canaryPrefix); ok && serviceName.MatchString(svc) {
		return Canary(svc), true
	}
	for _, k := range Keys() {
		if k.Name() == name {
			return k, true
		}
	}
	return nil, false
}
