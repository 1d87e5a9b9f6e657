package monitoring

import "fmt"

// FunnelSteps are the checkout's steps in order: an order enters each status once.
var FunnelSteps = []string{"placed", "reserved", "paid", "shipped", "delivered"}

// entered is how many orders entered status over the dashboard's time range.
func entered(status string) string {
	return fmt.Sprintf(`sum(increase(souk_orders_total{status=%q}[$__range]))`, status)
}

// funnel is the checkout: how many orders reach each step, where the others drop off, and
// why orders are cancelled.
func funnel() board {
	steps := make([]query, len(FunnelSteps))
	lost := make([]query, len(FunnelSteps)-1)
	for i, s := range FunnelSteps {
		steps[i] = q(entered(s), fmt.Sprintf("%d %s", i+1, s))
		if i > 0 {
			prev := FunnelSteps[i-1]
			lost[i-1] = q(entered(prev)+" - "+entered(s), prev+" → not "+s)
		}
	}
	return board{file: "funnel.json", uid: "souk-funnel", title: "Souk / Checkout funnel",
		help: "The checkout saga, placed → reserved → paid → shipped → delivered: orders reaching each step over the time range, those that dropped off between steps, cancellations by reason, payment failures by code, and the business counters beside them.",
		items: []any{
			row("Funnel over the time range"),
			barsOf("Orders reaching each step", "Orders that entered each status in the time range. Orders still on their way at either end of the range make the later steps look short: pick a range well past the last step's usual delay.", "short", steps...),
			barsOf("Dropped off between steps", "Orders that entered a step but not the next one in the range: cancelled, still waiting (see the JetStream dashboard for a stuck consumer) or in flight.", "short", lost...),
			statOf("Placed → paid", "Share of placed orders paid in the range.", "percentunit",
				q(entered("paid")+" / "+entered("placed"), "")),
			statOf("Placed → delivered", "Share of placed orders delivered in the range.", "percentunit",
				q(entered("delivered")+" / "+entered("placed"), "")),
			statOf("Cancelled", "Orders cancelled in the range, whatever the reason.", "short",
				q(entered("cancelled"), "")),
			statOf("Checkout p95", "95th percentile of POST /v1/orders over 5 minutes (objective: 99 % within 0.5 s).", "s",
				q(`histogram_quantile(0.95, sum by (le) (rate(souk_http_request_duration_seconds_bucket{method="POST",route="/v1/orders"}[5m])))`, "")),

			row("Over time"),
			graphOf("Orders entering each status", "Per second, by status: a gap opening between two lines is where the saga stops.", "short",
				q(`status:souk_orders:rate5m`, "{{status}}")),
			graphOf("Cancellations by reason", "Cancelled orders per second, by reason.", "short",
				q(`reason:souk_orders_cancelled:rate5m > 0`, "{{reason}}")).stack(),
			barsOf("Cancellations by reason over the range", "Orders cancelled in the range, by reason.", "short",
				q(`sum by (reason) (increase(souk_orders_cancelled_total[$__range]))`, "{{reason}}")),
			barsOf("Payment failures by code over the range", "Payments refused in the range, by decline code (others as \"other\").", "short",
				q(`sum by (code) (increase(souk_payment_failures_total[$__range]))`, "{{code}}")),
			graphOf("Stock-outs and coupons", "Reservations refused for lack of stock, and coupon redemptions, per minute.", "short",
				q(`sum(rate(souk_inventory_stockouts_total[$__rate_interval])) * 60`, "stock-outs / min"),
				q(`sum(rate(souk_promotion_redemptions_total[$__rate_interval])) * 60`, "coupon redemptions / min")),
			graphOf("Revenue and refunds", "Captured payments and refunds in minor units (cents) per hour, by currency.", "short",
				q(`sum by (currency) (rate(souk_revenue_minor_units_total[$__rate_interval])) * 3600`, "revenue {{currency}}"),
				q(`sum by (currency) (rate(souk_refunds_minor_units_total[$__rate_interval])) * 3600`, "refunds {{currency}}")),
			graphOf("Emails and webhooks", "Notifications per minute by outcome.", "short",
				q(`sum by (outcome) (rate(souk_notification_emails_total[$__rate_interval])) * 60`, "email {{outcome}}"),
				q(`sum by (outcome) (rate(souk_notification_webhooks_total[$__rate_interval])) * 60`, "webhook {{outcome}}")),
		}}
}

// edge is the edge sites: their links, sales, quotas and how far the hub's SITE_SALES is
// behind each site's SALES.
func edge() board {
	return board{file: "edge.json", uid: "souk-edge", title: "Souk / Edge sites",
		help: "Edge sites: whether each site's leaf link to the hub is up, its sales, the stock quota the hub granted and got back, and how far the hub's SITE_SALES stream is behind each site.",
		items: []any{
			row("Links"),
			graphOf("Link up", "1 while the site's leaf connection to the hub is up (alert after 10 minutes down).", "short",
				q(`min by (site) (souk_site_link_up)`, "{{site}}")),
			graphOf("SITE_SALES behind each site", "Messages the hub's SITE_SALES is behind each site's SALES: grows while a link is down, falls back to 0 after it heals.", "short",
				q(`max by (source) (souk_jetstream_source_lag{stream="SITE_SALES"})`, "{{source}}")),
			graphOf("Every sourced or mirrored stream", "Messages each stream is behind its sources and mirrors (sites mirror the catalog and quotas down).", "short",
				q(`max by (stream, source) (souk_jetstream_source_lag)`, "{{stream}} ← {{source}}")),
			row("Sales and quotas"),
			graphOf("Site sales", "Sales the hub recorded per minute, by site.", "short",
				q(`sum by (site) (rate(souk_site_sales_total[$__rate_interval])) * 60`, "{{site}}")).stack(),
			barsOf("Site sales over the range", "Sales recorded in the range, by site.", "short",
				q(`sum by (site) (increase(souk_site_sales_total[$__range]))`, "{{site}}")),
			graphOf("Quota granted and returned", "Stock units the hub granted to each site and got back, per hour.", "short",
				q(`sum by (site) (rate(souk_site_quota_granted_units_total[$__rate_interval])) * 3600`, "granted {{site}}"),
				q(`sum by (site) (rate(souk_site_quota_returned_units_total[$__rate_interval])) * 3600`, "returned {{site}}")),
			graphOf("Quota held by sites", "Units granted minus units returned over the range, by site: stock the hub has handed out.", "short",
				q(`sum by (site) (increase(souk_site_quota_granted_units_total[$__range])) - sum by (site) (increase(souk_site_quota_returned_units_total[$__range]))`, "{{site}}")),
		}}
}
