package outbox

// Pacing reports whether the relay has taken its next batch's turn from the pace and is
// waiting for it (its rate limiter's bucket is in debt): for the pacing test.
func Pacing(r *Relay) bool {
	pace := r.pace.Load()
	return pace != nil && pace.Tokens() < 0
}

// ClaimSQL and BacklogSQL are the relay's statements run most often, for the test of their
// plans; their arguments are (Batch, LateAfter in seconds) and (backlogCap).
func ClaimSQL(r *Relay) (string, []any) { return r.claimSQL(), []any{r.Batch, r.LateAfter.Seconds()} }

func BacklogSQL(r *Relay) (string, []any) { return r.backlogSQL(), []any{backlogCap} }
