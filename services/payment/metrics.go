package payment

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/subjects"
)

// The payment service's business counters: money captured and refunded, and payments that
// failed. Each is counted once, after the transaction that decided it committed: the stores
// return what they decided in their effect (service.after counts it), or defer it with
// pg.AfterCommit inside a consumer's transaction. A payment decided once never changes again
// (recordIntent), so a second word on it (a webhook replayed, the worker asking again, a
// second instance) decides and counts nothing.

// declineCodes are the code label's values: the decline codes the sandbox and Stripe give
// most (Stripe's documented card decline codes), the ones this service gives itself, and
// codeOther for any other, so that a provider's new or odd code never makes a new series.
var declineCodes = []string{
	"card_declined", "insufficient_funds", "expired_card", "incorrect_cvc", "incorrect_number", "processing_error",
	"lost_card", "stolen_card", "fraudulent", "do_not_honor", "generic_decline", "authentication_required",
	"card_not_supported", "currency_not_supported", "payment_failed", "canceled",
	declineInvalidMethod, declineRejected, declineActionTimeout, codeOther,
}

// codeOther stands for a decline code outside declineCodes, and for a currency that is no
// ISO 4217 code.
const codeOther = "other"

// counts are the payment service's business counters; a nil *counts counts nothing.
type counts struct {
	revenue, refunds, failures *prometheus.CounterVec
}

// newCounts registers the counters on reg; every decline code, and the shop's currency
// (when given), start at 0.
func newCounts(reg prometheus.Registerer, currency string) *counts {
	c := &counts{
		revenue: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_revenue_minor_units_total",
			Help: "Payments captured, in minor units of their ISO 4217 currency (cents for EUR), counted once when recorded succeeded.",
		}, []string{"currency"})),
		refunds: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_refunds_minor_units_total",
			Help: "Refunds the provider confirmed, in minor units of their currency.",
		}, []string{"currency"})),
		failures: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_payment_failures_total",
			Help: "Payments that ended unpaid, by decline code (a fixed list; any other is other). A payment the order's cancellation stopped is none.",
		}, []string{"code"})),
	}
	for _, code := range declineCodes {
		c.failures.WithLabelValues(code)
	}
	if cur, ok := subjects.CheckCurrency(currency); ok {
		c.revenue.WithLabelValues(cur)
		c.refunds.WithLabelValues(cur)
	}
	return c
}

// currencyLabel is cur when it is an ISO 4217 code (about 180 of them: the label is bounded
// by the standard, and in practice by the currencies the catalog prices in), else codeOther.
func currencyLabel(cur string) string {
	if c, ok := subjects.CheckCurrency(cur); ok {
		return c
	}
	return codeOther
}

// count counts what a committed transaction decided.
func (c *counts) count(eff effect) {
	if c == nil {
		return
	}
	for _, m := range eff.captured {
		c.revenue.WithLabelValues(currencyLabel(m.Currency)).Add(float64(m.Amount))
	}
	for _, m := range eff.refunded {
		c.refunds.WithLabelValues(currencyLabel(m.Currency)).Add(float64(m.Amount))
	}
	for _, code := range eff.declined {
		if !slices.Contains(declineCodes, code) {
			code = codeOther
		}
		c.failures.WithLabelValues(code).Inc()
	}
}

// outcome is the effect of payment p just decided: its capture, or its failure. A payment
// canceled because its order was cancelled first is no failure of the payment.
func outcome(p Payment) effect {
	switch {
	case p.Status == subjects.PaymentStatusSucceeded:
		return effect{captured: []subjects.Money{p.Amount}}
	case p.Status == subjects.PaymentStatusFailed,
		p.Status == subjects.PaymentStatusCanceled && p.DeclineCode != declineOrderCancelled:
		return effect{declined: []string{p.DeclineCode}}
	}
	return effect{}
}
