package authn

import "time"

// ClockSlack is how far apart the clocks of the process that revokes (the user service) and
// of the one that issues tokens (the auth service) may be without an old token getting
// through a revocation. NTP keeps hosts within milliseconds; a second is a wide margin.
const ClockSlack = time.Second

// NotBefore is the not-before time, in Unix seconds, of a revocation decided at t: a token
// is refused when its issued-at is earlier. The issued-at of a token has whole seconds
// (iat = floor(issue time)), so a token issued in the second of t, before t, has iat =
// floor(t): refusing iat <= floor(t + ClockSlack) refuses every token issued before t, even
// by an issuer whose clock runs up to ClockSlack ahead. The price is that a token issued in
// the same (up to two) seconds after t is refused too, unless its issuer knew of the
// revocation and dated it NotBefore (the auth service does: see services/auth).
func NotBefore(t time.Time) int64 { return t.Add(ClockSlack).Unix() + 1 }
