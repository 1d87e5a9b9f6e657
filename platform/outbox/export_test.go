package outbox

// Pacing reports whether the relay has taken its next batch's turn from the pace and is
// waiting for it (its rate limiter's bucket is in debt): for the pacing test.
func Pacing(r *Relay) bool {
	pace := r.pace.Load()
	return pace != nil && pace.Tokens() < 0
}
