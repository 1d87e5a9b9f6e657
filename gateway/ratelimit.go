package gateway

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// Limit is one token bucket: Rate tokens a second, up to Burst at once. rate.Inf disables it.
type Limit struct {
	// Rate is the refill rate in tokens per second.
	Rate rate.Limit
	// Burst is the bucket size: how many requests may come at once.
	Burst int
}

// RateLimits are the gateway's token buckets. Zero fields take the defaults of
// DefaultRateLimits.
type RateLimits struct {
	// IP is spent by every request of a client IP.
	IP Limit
	// AuthIP is spent, on top of IP, by the /v1/auth/* requests of a client IP.
	AuthIP Limit
	// Account is spent by every request that carries a valid token, keyed by its subject.
	Account Limit
	// Login limits password guessing by failed logins: per address and email, per email,
	// per address.
	Login LoginLimits
	// SSEPerUser bounds the event streams one account (token subject) holds open at once;
	// the next one is a 429 until one closes.
	SSEPerUser int
	// MaxKeys bounds the buckets each limiter keeps; idle buckets are evicted first.
	MaxKeys int
}

// DefaultRateLimits are the limits of a zero RateLimits.
var DefaultRateLimits = RateLimits{
	IP:         Limit{Rate: 50, Burst: 100},
	AuthIP:     Limit{Rate: 5, Burst: 20},
	Account:    Limit{Rate: 20, Burst: 40},
	Login:      DefaultLoginLimits,
	SSEPerUser: 8,
	MaxKeys:    100_000,
}

func (r RateLimits) withDefaults() RateLimits {
	d := DefaultRateLimits
	for _, p := range []struct{ l, def *Limit }{{&r.IP, &d.IP}, {&r.AuthIP, &d.AuthIP}, {&r.Account, &d.Account}} {
		if p.l.Rate <= 0 {
			p.l.Rate = p.def.Rate
		}
		if p.l.Burst <= 0 {
			p.l.Burst = p.def.Burst
		}
	}
	if r.MaxKeys <= 0 {
		r.MaxKeys = d.MaxKeys
	}
	if r.SSEPerUser <= 0 {
		r.SSEPerUser = d.SSEPerUser
	}
	r.Login = r.Login.withDefaults()
	return r
}

type limiters struct {
	ip, authIP, account *keyed
	// login is nil when Login.Off.
	login *loginLimiter
	// streams counts the open SSE streams per account.
	streams *slots
}

// newLimiters builds r's limiters; the per-IP and per-account rates follow live's keys
// gateway.rate_ip and gateway.rate_account (r's rates while the bucket holds none).
func newLimiters(r RateLimits, live *liveconfig.Config) *limiters {
	l := &limiters{
		ip:      newKeyed(r.IP, r.MaxKeys).follow(liveconfig.RateIP, live),
		authIP:  newKeyed(r.AuthIP, r.MaxKeys),
		account: newKeyed(r.Account, r.MaxKeys).follow(liveconfig.RateAccount, live),
		streams: newSlots(r.SSEPerUser),
	}
	if !r.Login.Off {
		l.login = newLoginLimiter(r.Login, live)
	}
	return l
}

// slots counts what each key holds open (SSE streams per account), up to per each. A key
// holding nothing has no entry, so the map is as large as the number of keys holding
// something, which the open connections bound.
type slots struct {
	mu   sync.Mutex
	per  int
	held map[string]int
}

func newSlots(per int) *slots { return &slots{per: per, held: make(map[string]int)} }

// take holds one slot of key, or returns the 429 when key holds per already. The caller
// gives it back with the returned release, once.
func (s *slots) take(key string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key] >= s.per {
		return nil, tooManyRequests(sseRetryAfter.Seconds())
	}
	key = strings.Clone(key)
	s.held[key]++
	var once sync.Once
	return func() { once.Do(func() { s.give(key) }) }, nil
}

func (s *slots) give(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key] <= 1 {
		delete(s.held, key)
		return
	}
	s.held[key]--
}

func (s *slots) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

const (
	shardCount = 16
	// sweepEvery is how often a shard drops its idle buckets even when not full.
	sweepEvery = time.Minute
)

// keyed is a set of token buckets by key, bounded in size. A bucket that has refilled to its
// burst holds no information (a new one would be the same), so such buckets are evicted;
// when a shard is full of busy buckets an arbitrary one goes, which at worst hands that key a
// fresh burst: the map never grows without bound.
type keyed struct {
	// limit is the limit in force, asked on every request: a live change applies to the
	// next request of every key, its bucket refilling at the new rate from then on.
	limit  func() Limit
	max    int // per shard
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweptAt time.Time
}

func newKeyed(l Limit, maxKeys int) *keyed {
	k := &keyed{limit: func() Limit { return l }, max: max(1, maxKeys/shardCount), seed: maphash.MakeSeed()}
	for i := range k.shards {
		k.shards[i].buckets = make(map[string]*rate.Limiter)
	}
	return k
}

// follow makes k's rate the live value of key, its burst twice that (as SOUK_RATE_IP
// says); while the bucket holds none, k keeps its own limit (rate and burst). An unlimited
// k (rate.Inf, the tests') stays unlimited. It returns k.
func (k *keyed) follow(key liveconfig.Key[int], live *liveconfig.Config) *keyed {
	own := k.limit()
	if own.Rate == rate.Inf || live == nil {
		return k
	}
	def := int(own.Rate)
	v := key.Bind(live, def)
	k.limit = func() Limit {
		if n := v.Load(); n != def {
			return Limit{Rate: rate.Limit(n), Burst: 2 * n}
		}
		return own
	}
	return k
}

// allow spends a token of key's bucket, or returns the 429 with the wait until one is there.
func (k *keyed) allow(key string) error {
	if k.limit().Rate == rate.Inf {
		return nil
	}
	s := &k.shards[maphash.String(k.seed, key)%shardCount]
	s.mu.Lock()
	return k.spend(s, s.buckets[key], key, nil)
}

// allowBytes is allow for a key held as bytes (an IP address): a string is made only when a
// new bucket is stored.
func (k *keyed) allowBytes(key []byte) error {
	if k.limit().Rate == rate.Inf {
		return nil
	}
	s := &k.shards[maphash.Bytes(k.seed, key)%shardCount]
	s.mu.Lock()
	return k.spend(s, s.buckets[string(key)], "", key)
}

// spend takes a token from b, creating it under key (or keyBytes) when nil. Caller holds
// s.mu; spend releases it.
func (k *keyed) spend(s *shard, b *rate.Limiter, key string, keyBytes []byte) error {
	now, l := time.Now(), k.limit()
	if b == nil {
		if len(s.buckets) >= k.max || now.Sub(s.sweptAt) > sweepEvery {
			k.sweep(s, now)
		}
		b = rate.NewLimiter(l.Rate, l.Burst)
		if keyBytes != nil {
			key = string(keyBytes)
		} else {
			key = strings.Clone(key) // key may point into a request buffer
		}
		s.buckets[key] = b
	} else if b.Limit() != l.Rate || b.Burst() != l.Burst { // changed live since b was made
		b.SetLimitAt(now, l.Rate)
		b.SetBurstAt(now, l.Burst)
	}
	ok := b.AllowN(now, 1)
	var wait float64
	if !ok {
		wait = (1 - b.TokensAt(now)) / float64(l.Rate)
	}
	s.mu.Unlock()
	if ok {
		return nil
	}
	return tooManyRequests(wait)
}

// sweep drops the idle buckets of s (full at the burst in force), and one more when s is
// still full. Caller holds s.mu.
func (k *keyed) sweep(s *shard, now time.Time) {
	s.sweptAt = now
	burst := float64(k.limit().Burst)
	for key, b := range s.buckets {
		if b.TokensAt(now) >= burst {
			delete(s.buckets, key)
		}
	}
	if len(s.buckets) >= k.max {
		for key := range s.buckets {
			delete(s.buckets, key)
			break
		}
	}
}

func (k *keyed) len() int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

func tooManyRequests(waitSeconds float64) error {
	secs := int(math.Ceil(waitSeconds))
	if secs < 1 {
		secs = 1
	}
	return &subjects.Error{Code: 429, Slug: "rate_limited", Message: "too many requests; retry later", RetryAfter: secs}
}
