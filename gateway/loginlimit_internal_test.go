package gateway

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/souk/souk/subjects"
)

// clockLimiter is a login limiter on a clock the test moves.
type clockLimiter struct {
	*loginLimiter
	t   *testing.T
	now time.Duration
}

func newClockLimiter(t *testing.T, l LoginLimits) *clockLimiter {
	c := &clockLimiter{loginLimiter: newLoginLimiter(l.withDefaults(), nil), t: t, now: time.Hour}
	c.loginLimiter.now = func() time.Duration { return c.now }
	return c
}

// try admits a login and settles it with outcome; it returns the Retry-After of a refusal in
// seconds, 0 when admitted.
func (c *clockLimiter) try(addr, email string, outcome loginOutcome) int {
	c.t.Helper()
	a, err := c.admit([]byte(addr), email)
	if err != nil {
		var se *subjects.Error
		if !errors.As(err, &se) || se.Code != 429 || se.RetryAfter < 1 {
			c.t.Fatalf("refusal %v, want a 429 with Retry-After", err)
		}
		return se.RetryAfter
	}
	c.settle(a, outcome)
	return 0
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	b := Backoff{Free: 3, Base: time.Second, Max: 30 * time.Second}
	want := []time.Duration{0, 0, 0, 1, 2, 4, 8, 16, 30, 30}
	for n, w := range want {
		if got := b.wait(n); got != w*time.Second {
			t.Fatalf("wait after %d failures: %s, want %s", n, got, w*time.Second)
		}
	}
	if got := b.wait(1 << 20); got != b.Max {
		t.Fatalf("wait after many failures: %s", got)
	}
}

func TestPairIsCutOffThenWaitsDouble(t *testing.T) {
	c := newClockLimiter(t, LoginLimits{Pair: Backoff{Free: 5}, Email: Backoff{Free: 1000}, Address: Backoff{Free: 1000}})
	for i := range 5 {
		if ra := c.try("a1", "v@x", loginFailed); ra != 0 {
			t.Fatalf("failure %d refused", i+1)
		}
	}
	for _, wait := range []int{1, 2, 4, 8} {
		if ra := c.try("a1", "v@x", loginFailed); ra != wait {
			t.Fatalf("Retry-After %d, want %d", ra, wait)
		}
		c.now += time.Duration(wait) * time.Second
		if ra := c.try("a1", "v@x", loginFailed); ra != 0 {
			t.Fatal("refused after the wait")
		}
	}
	// Other addresses and other emails are not held by this pair.
	if c.try("a2", "v@x", loginFailed) != 0 || c.try("a1", "w@x", loginFailed) != 0 {
		t.Fatal("the pair's limit held another pair")
	}
	// A success resets the pair.
	c.now += time.Hour - time.Minute
	if c.try("a1", "v@x", loginSucceeded) != 0 || c.try("a1", "v@x", loginFailed) != 0 {
		t.Fatal("refused after a success")
	}
}

func TestAddressAcrossEmailsIsCutOff(t *testing.T) {
	c := newClockLimiter(t, LoginLimits{Address: Backoff{Free: 4}})
	for i := range 4 {
		if c.try("a1", "u"+strconv.Itoa(i)+"@x", loginFailed) != 0 {
			t.Fatalf("failure %d refused", i+1)
		}
	}
	if c.try("a1", "fresh@x", loginFailed) == 0 {
		t.Fatal("a fifth email from the same address was checked at once")
	}
	// A success does not clear an address's failures: a sprayer may own an account.
	c.now += time.Second
	if c.try("a1", "mine@x", loginSucceeded) != 0 {
		t.Fatal("refused after the wait")
	}
	if c.try("a1", "u9@x", loginFailed) == 0 {
		t.Fatal("a success reset the address's failures")
	}
}

func TestOnlyFailuresCount(t *testing.T) {
	c := newClockLimiter(t, LoginLimits{Pair: Backoff{Free: 2}})
	for range 20 {
		if c.try("a1", "v@x", loginUnsettled) != 0 {
			t.Fatal("attempts without a verdict were counted")
		}
	}
	// Attempts in flight count as failures until they are settled.
	var held []*loginAttempt
	for range 2 {
		a, err := c.admit([]byte("a1"), "v@x")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, a)
	}
	if _, err := c.admit([]byte("a1"), "v@x"); err == nil {
		t.Fatal("a third concurrent guess went through beside two in flight")
	}
	for _, a := range held {
		c.settle(a, loginUnsettled)
	}
	// A failure's wait runs from its answer: hashing a guess does not use up the wait.
	c2 := newClockLimiter(t, LoginLimits{Pair: Backoff{Free: 1}})
	a, err := c2.admit([]byte("a1"), "v@x")
	if err != nil {
		t.Fatal(err)
	}
	c2.now += 3 * time.Second // the hash
	c2.settle(a, loginFailed)
	if c2.try("a1", "v@x", loginFailed) != 1 {
		t.Fatal("the wait ran out while the guess was being checked")
	}
	if c.try("a1", "v@x", loginFailed) != 0 {
		t.Fatal("refunded attempts still count")
	}
}

func TestEmailWaitIsCappedAndTheOwnerKeepsATurn(t *testing.T) {
	c := newClockLimiter(t, LoginLimits{Pair: Backoff{Free: 1000}, Email: Backoff{Free: 3, Max: 8 * time.Second}})
	attackers := 0
	guess := func() int { // one guess of the next attacker address
		attackers++
		return c.try("attacker"+strconv.Itoa(attackers%5), "v@x", loginFailed)
	}
	for range 3 {
		if guess() != 0 {
			t.Fatal("a free failure was refused")
		}
	}
	for range 20 { // the email's wait grows to its cap and stays there
		ra := guess()
		if ra == 0 {
			continue
		}
		if ra > 8 {
			t.Fatalf("Retry-After %d beyond the cap", ra)
		}
		c.now += time.Duration(ra) * time.Second
	}
	// The owner, at an address of its own, is told to wait at most the cap; attackers take
	// every turn of the email meanwhile, and the owner still gets its turn.
	ra := c.try("owner", "v@x", loginSucceeded)
	if ra < 1 || ra > 8 {
		t.Fatalf("owner's Retry-After %d", ra)
	}
	c.now += time.Duration(ra) * time.Second
	if guess() != 0 {
		t.Fatal("the attacker missed the email's turn")
	}
	if c.try("owner", "v@x", loginSucceeded) != 0 {
		t.Fatal("the owner lost its turn to an attacker")
	}
	// The success reset the email.
	if guess() != 0 {
		t.Fatal("a success left the email's wait")
	}
	// An address that failed on the email keeps no turn: it races for the next.
	c.now += time.Minute
	for range 10 {
		guess()
	}
	if ra := c.try("attacker1", "v@x", loginFailed); ra == 0 {
		t.Fatal("an attacker address jumped the email's wait")
	}
}

func TestLoginTablesStayBounded(t *testing.T) {
	c := newClockLimiter(t, LoginLimits{MaxKeys: 100, Pair: Backoff{Forget: time.Minute}, Email: Backoff{Forget: time.Minute}, Address: Backoff{Forget: time.Minute}})
	for i := range 10_000 {
		c.try("a"+strconv.Itoa(i%500), "u"+strconv.Itoa(i)+"@x", loginFailed)
	}
	for _, tb := range []*failures{c.pairs, c.emails, c.addrs} {
		if n := tb.len(); n > 100 {
			t.Fatalf("%d entries, bound is 100", n)
		}
	}
	// Quiet entries are forgotten.
	c.now += 2 * time.Minute
	c.try("late", "late@x", loginFailed)
	for _, tb := range []*failures{c.pairs, c.emails, c.addrs} {
		if n := tb.len(); n != 1 {
			t.Fatalf("%d entries after a quiet spell, want 1", n)
		}
	}
}
