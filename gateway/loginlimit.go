package gateway

import (
	"errors"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// Backoff is a limit on failures: after Free failures the next attempt waits Base, and each
// further failure doubles the wait before the next attempt is checked, up to Max. A key with
// no attempt for Forget is forgotten. Zero fields take the defaults of DefaultLoginLimits.
type Backoff struct {
	// Free is how many failures come without a wait.
	Free int
	// Base is the wait after the first failure beyond Free.
	Base time.Duration
	// Max caps the wait.
	Max time.Duration
	// Forget is how long a key must see no attempt before its failures are forgotten.
	Forget time.Duration
}

// wait is the wait after n failures.
func (b Backoff) wait(n int) time.Duration {
	over := n - b.Free
	switch {
	case over < 0:
		return 0
	case over > 30: // any doubling this far is past Max
		return b.Max
	}
	return min(b.Base<<over, b.Max)
}

// LoginLimits limit password guessing by counting failed logins (401s), not attempts, three
// ways. None of them refuses the owner for long: Pair and Address are spent only from the
// guesser's own address, and Email, which anyone can spend, waits at most Email.Max.
type LoginLimits struct {
	// Pair is tight: one client address's failures on one email.
	Pair Backoff
	// Email is loose and capped low: failures on one email from any address, so that an
	// attack from many addresses slows down too. An address that has not failed on the email
	// and is told to wait is checked when that wait is over even if others took the turn, so
	// the owner waits at most Email.Max.
	Email Backoff
	// Address is one client address's failures across all emails (password spraying).
	Address Backoff
	// MaxKeys bounds the entries of each of the three tables; the least recently used goes
	// first. The default, 50 000, is about 9 MiB a table when full (measured).
	MaxKeys int
	// Off turns login limiting off (tests that are not about it).
	Off bool
}

// DefaultLoginLimits are the limits of a zero LoginLimits.
var DefaultLoginLimits = LoginLimits{
	Pair:    Backoff{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour},
	Email:   Backoff{Free: 10, Base: time.Second, Max: 30 * time.Second, Forget: 15 * time.Minute},
	Address: Backoff{Free: 30, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour},
	MaxKeys: 50_000,
}

func (l LoginLimits) withDefaults() LoginLimits {
	d := DefaultLoginLimits
	for _, p := range []struct{ b, def *Backoff }{{&l.Pair, &d.Pair}, {&l.Email, &d.Email}, {&l.Address, &d.Address}} {
		if p.b.Free <= 0 {
			p.b.Free = p.def.Free
		}
		if p.b.Base <= 0 {
			p.b.Base = p.def.Base
		}
		if p.b.Max <= 0 {
			p.b.Max = p.def.Max
		}
		p.b.Base = min(p.b.Base, p.b.Max)
		if p.b.Forget <= 0 {
			p.b.Forget = max(p.def.Forget, p.b.Max)
		}
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = d.MaxKeys
	}
	return l
}

// loginLimiter holds the three failure tables of LoginLimits under one lock: a login costs a
// bcrypt hash (milliseconds), the bookkeeping a microsecond, and one lock makes the check and
// the charge of all three tables one step.
type loginLimiter struct {
	mu                     sync.Mutex
	pairs, emails, addrs   *failures
	limits                 LoginLimits
	start                  time.Time
	now                    func() time.Duration // since start; a test sets it
	pairKeyBuf, addrKeyBuf []byte
}

// newLoginLimiter builds l's tables; their free failures follow live's keys
// gateway.login_attempts, .login_email_attempts and .login_address_attempts.
func newLoginLimiter(l LoginLimits, live *liveconfig.Config) *loginLimiter {
	ll := &loginLimiter{
		limits: l,
		pairs:  newFailures(l.Pair, l.MaxKeys).follow(liveconfig.LoginAttempts, live),
		emails: newFailures(l.Email, l.MaxKeys).follow(liveconfig.LoginEmailAttempts, live),
		addrs:  newFailures(l.Address, l.MaxKeys).follow(liveconfig.LoginAddressAttempts, live),
		start:  time.Now(),
	}
	ll.now = func() time.Duration { return time.Since(ll.start) } // monotonic
	return ll
}

// loginAttempt is an admitted login, charged as a failure until settle learns otherwise.
type loginAttempt struct {
	pair, email, addr string
}

// admit checks a login of email from addr and, when it may go on, charges it to the three
// tables as a failure in advance, so that concurrent guesses see each other; settle refunds
// what was no failure. A refusal is a 429 whose Retry-After is the wait, the same whether or
// not the email has an account (the gateway does not know).
func (ll *loginLimiter) admit(addr []byte, email string) (*loginAttempt, error) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	now := ll.now()
	ll.pairKeyBuf = append(append(append(ll.pairKeyBuf[:0], addr...), 0), email...)
	ll.addrKeyBuf = append(ll.addrKeyBuf[:0], addr...)
	pair := ll.pairs.get(ll.pairKeyBuf, now)
	address := ll.addrs.get(ll.addrKeyBuf, now)
	mail := ll.emails.get([]byte(email), now)
	// The address's own limits first: only its own failures spent them.
	if w := max(pair.waitAt(now), address.waitAt(now)); w > 0 {
		return nil, tooManyRequests(w.Seconds())
	}
	if w := mail.waitAt(now); w > 0 {
		// Others' failures on this email. An address without a failure of its own on it
		// (the owner, typically) gets a turn at the end of this wait, kept even if other
		// addresses take the email's next turn before it comes back.
		if pair != nil && pair.failures > 0 {
			return nil, tooManyRequests(w.Seconds())
		}
		if pair == nil {
			pair = ll.pairs.put(ll.pairKeyBuf, now)
		}
		if pair.turn == 0 {
			pair.turn = mail.until
		}
		if pair.turn > now {
			return nil, tooManyRequests((pair.turn - now).Seconds())
		}
	}
	if pair != nil {
		pair.turn = 0 // taken, or not needed
	}
	a := &loginAttempt{pair: string(ll.pairKeyBuf), email: email, addr: string(ll.addrKeyBuf)}
	ll.pairs.charge(a.pair, now)
	ll.addrs.charge(a.addr, now)
	ll.emails.charge(a.email, now)
	return a, nil
}

// loginOutcome is what the reply to an admitted login said.
type loginOutcome int

const (
	// loginFailed: wrong credentials (401); the charge stands.
	loginFailed loginOutcome = iota
	// loginSucceeded resets the address's and the email's failures on that email; the
	// address's failures across emails stay (a sprayer could log into an account of its own).
	loginSucceeded
	// loginUnsettled: no verdict (a bad request, an unavailable service, a timeout); the
	// charge is refunded.
	loginUnsettled
)

// settle applies the outcome of an admitted attempt. A failure's wait runs from its answer,
// not from its admission: a guesser does not spend the wait hashing.
func (ll *loginLimiter) settle(a *loginAttempt, outcome loginOutcome) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if outcome == loginFailed {
		now := ll.now()
		ll.pairs.failed(a.pair, now)
		ll.addrs.failed(a.addr, now)
		ll.emails.failed(a.email, now)
		return
	}
	ll.addrs.refund(a.addr)
	if outcome == loginSucceeded {
		ll.pairs.remove(a.pair)
		ll.emails.remove(a.email)
		return
	}
	ll.pairs.refund(a.pair)
	ll.emails.refund(a.email)
}

// failures is a table of failure counts by key, bounded to max entries: an LRU list whose
// least recently used entries are dropped when they have been quiet for Forget, or when the
// table is full. Times are durations since the limiter's start (monotonic). Caller holds the
// limiter's lock.
type failures struct {
	policy Backoff
	// free, when set, is the live number of free failures (platform/liveconfig), in place of
	// policy.Free: a change applies to the next failure charged or refunded.
	free       *liveconfig.Value[int]
	max        int
	m          map[string]*failure
	head, tail *failure // most recently used first
}

type failure struct {
	key        string
	prev, next *failure
	failures   int
	// last is when the last failure was charged, until when the next attempt waits, seen
	// when the key was last used, turn the kept turn of an address told to wait by others'
	// failures on the email (pair table only; 0: none).
	last, until, seen, turn time.Duration
}

func newFailures(p Backoff, maxKeys int) *failures {
	return &failures{policy: p, max: max(1, maxKeys), m: make(map[string]*failure)}
}

// follow makes t's free failures the live value of key (policy.Free while the bucket holds
// none). It returns t.
func (t *failures) follow(key liveconfig.Key[int], live *liveconfig.Config) *failures {
	if live != nil {
		t.free = key.Bind(live, t.policy.Free)
	}
	return t
}

// wait is how long the next attempt waits after n failures, under the policy in force.
func (t *failures) wait(n int) time.Duration {
	p := t.policy
	if t.free != nil {
		p.Free = t.free.Load()
	}
	return p.wait(n)
}

// waitAt is how long an attempt at now waits; 0 on a nil entry.
func (f *failure) waitAt(now time.Duration) time.Duration {
	if f == nil || f.until <= now {
		return 0
	}
	return f.until - now
}

// get returns key's entry (nil when none), marking it used.
func (t *failures) get(key []byte, now time.Duration) *failure {
	t.expire(now)
	e := t.m[string(key)] // no allocation for the lookup
	if e != nil {
		e.seen = now
		t.toFront(e)
	}
	return e
}

// put adds an empty entry for key, making room first.
func (t *failures) put(key []byte, now time.Duration) *failure {
	for len(t.m) >= t.max {
		t.drop(t.tail)
	}
	e := &failure{key: string(key), seen: now}
	t.m[e.key] = e
	t.toFront(e)
	return e
}

// charge counts a failure of key at now.
func (t *failures) charge(key string, now time.Duration) {
	e := t.m[key]
	if e == nil {
		e = t.put([]byte(key), now)
	}
	e.failures++
	e.last, e.seen = now, now
	e.until = max(e.until, now+t.wait(e.failures))
	t.toFront(e)
}

// failed starts key's wait again at now, when its charged failure turned out one.
func (t *failures) failed(key string, now time.Duration) {
	if e := t.m[key]; e != nil {
		e.last = now
		e.until = max(e.until, now+t.wait(e.failures))
	}
}

// refund takes back a failure charged to key, if the entry is still there.
func (t *failures) refund(key string) {
	if e := t.m[key]; e != nil && e.failures > 0 {
		e.failures--
		e.until = e.last + t.wait(e.failures)
	}
}

func (t *failures) remove(key string) {
	if e := t.m[key]; e != nil {
		t.drop(e)
	}
}

// expire drops the entries quiet for Forget, which sit at the tail.
func (t *failures) expire(now time.Duration) {
	for t.tail != nil && now-t.tail.seen > t.policy.Forget {
		t.drop(t.tail)
	}
}

func (t *failures) toFront(e *failure) {
	if t.head == e {
		return
	}
	t.unlink(e)
	e.next = t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
}

func (t *failures) unlink(e *failure) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if t.head == e {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if t.tail == e {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *failures) drop(e *failure) {
	t.unlink(e)
	delete(t.m, e.key)
}

func (t *failures) len() int { return len(t.m) }

type loginAttemptKey struct{}

// settleLogin wraps the login route's call: the attempt limitLogin admitted is settled by what
// the service answered, so that failures (401) count and nothing else does.
func settleLogin(call Call) Call {
	inner := call.handler
	call.handler = func(g *Gateway, rt *Route) fiber.Handler {
		h := inner(g, rt)
		return func(c *fiber.Ctx) error {
			outcome := loginUnsettled // a panic settles nothing
			defer func() {
				if a, ok := c.Locals(loginAttemptKey{}).(*loginAttempt); ok {
					c.Locals(loginAttemptKey{}, nil)
					g.limits.login.settle(a, outcome)
				}
			}()
			err := h(c)
			outcome = outcomeOf(err)
			return err
		}
	}
	return call
}

func outcomeOf(err error) loginOutcome {
	var se *subjects.Error
	switch {
	case err == nil:
		return loginSucceeded
	case errors.As(err, &se) && se.Code == fiber.StatusUnauthorized:
		return loginFailed
	}
	return loginUnsettled
}
