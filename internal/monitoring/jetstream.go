package monitoring

// stalled is SoukConsumerStalled's condition: messages waiting and no acknowledgement in
// 15 minutes.
const stalled = `max by (stream, consumer) (souk_jetstream_consumer_pending + souk_jetstream_consumer_ack_pending) > 0
and max by (stream, consumer) (changes(souk_jetstream_consumer_ack_floor[15m])) == 0`

// jetStream is the transport: consumers (lag, stalls, redeliveries, handling), streams, the
// outboxes that feed them, dead letters and storage.
func jetStream() board {
	return board{file: "jetstream.json", uid: "souk-jetstream", title: "Souk / JetStream",
		help: "Consumers (lag, stalled ones, redeliveries, handling), streams and how full they are, the outboxes feeding them, dead letters and storage.",
		items: []any{
			row("Consumers"),
			tableOf("Stalled consumers", "Consumers with messages waiting that acknowledged nothing in 15 minutes: their service is not running or fails every batch (alert SoukConsumerStalled). Empty is good.", "short",
				q(stalled, "")),
			graphOf("Lag", "Messages each consumer has yet to apply, delivered or not (alert above 10 000).", "short",
				q(`consumer:souk_jetstream_consumer_lag:max`, "{{stream}} / {{consumer}}")),
			graphOf("Acknowledged", "Stream sequence each consumer has acknowledged up to, per minute: a flat line with lag is a stall.", "short",
				q(`max by (stream, consumer) (rate(souk_jetstream_consumer_ack_floor[$__rate_interval])) * 60`, "{{stream}} / {{consumer}}")),
			graphOf("Redeliveries", "Messages JetStream delivered more than once and not yet acknowledged, per consumer.", "short",
				q(`max by (stream, consumer) (souk_jetstream_consumer_redelivered) > 0`, "{{stream}} / {{consumer}}")),
			graphOf("Handling", "Events applied and failed deliveries per second, by consumer.", "short",
				q(`sum by (consumer) (rate(souk_consumer_applied_total[$__rate_interval]))`, "applied {{consumer}}"),
				q(`sum by (consumer) (rate(souk_consumer_failed_total[$__rate_interval])) > 0`, "failed {{consumer}}")),
			graphOf("Batch duration p99", "Time to handle and commit one batch, by consumer.", "s",
				q(`histogram_quantile(0.99, sum by (consumer, le) (rate(souk_consumer_batch_duration_seconds_bucket[$__rate_interval])))`, "{{consumer}}")),
			graphOf("Holding", "Consumers holding their batch because PostgreSQL refuses writes (read-only, full, out of connections).", "short",
				q(`max by (consumer) (souk_consumer_holding) > 0`, "{{consumer}}"),
				q(`sum by (consumer) (rate(souk_consumer_holds_total[$__rate_interval])) > 0`, "holds/s {{consumer}}")),

			row("Dead letters"),
			graphOf("DLQ", "Messages in the dead-letter stream (souk dlq ls shows them; alert while any).", "short",
				q(`max(souk_jetstream_stream_messages{stream="DLQ"})`, "DLQ")),
			graphOf("Dead letters by consumer and cause", "Events each consumer gave up on per 10 minutes (alert at 5 in 15 minutes).", "short",
				q(`sum by (consumer, cause) (increase(souk_consumer_dead_letters_total[10m])) > 0`, "{{consumer}} {{cause}}")),

			row("Streams and storage"),
			graphOf("Messages by stream", "Messages each stream holds.", "short",
				q(`max by (stream) (souk_jetstream_stream_messages)`, "{{stream}}")),
			graphOf("Fullness of streams that refuse when full", "Messages and bytes over each stream's limit, for streams that discard new messages (alert above half).", "percentunit",
				q(`max by (stream) (souk_jetstream_stream_messages / (souk_jetstream_stream_max_messages > 0) and souk_jetstream_stream_discard_new == 1)`, "messages {{stream}}"),
				q(`max by (stream) (souk_jetstream_stream_bytes / (souk_jetstream_stream_max_bytes > 0) and souk_jetstream_stream_discard_new == 1)`, "bytes {{stream}}")),
			graphOf("Storage", "The account's storage in use and its limit, by type.", "bytes",
				q(`max by (type) (souk_jetstream_storage_bytes)`, "used {{type}}"),
				q(`max by (type) (souk_jetstream_storage_limit_bytes)`, "limit {{type}}")),
			graphOf("Lag figures", "1 when the last scrape read every stream and consumer, 0 when JetStream did not answer.", "short",
				q(`min(souk_jetstream_lag_up)`, "up")),

			row("Outboxes"),
			graphOf("Backlog", "Events committed in PostgreSQL and not yet published, per outbox.", "short",
				q(`max by (outbox) (souk_outbox_backlog)`, "{{outbox}}")),
			graphOf("Oldest unsent", "Age of each outbox's oldest unpublished event (alert above 5 minutes).", "s",
				q(`max by (outbox) (souk_outbox_oldest_unsent_seconds)`, "{{outbox}}")),
			graphOf("Published and resent", "Events published per second, and those published again, by cause.", "short",
				q(`sum by (outbox) (rate(souk_outbox_published_total[$__rate_interval]))`, "published {{outbox}}"),
				q(`sum by (outbox, cause) (rate(souk_outbox_resent_total[$__rate_interval])) > 0`, "resent {{outbox}} {{cause}}")),
			graphOf("Publish failures", "Failed publishes per second, and relays failing now.", "short",
				q(`sum by (outbox) (rate(souk_outbox_publish_failures_total[$__rate_interval])) > 0`, "failures {{outbox}}"),
				q(`max by (outbox) (souk_outbox_failing) > 0`, "failing {{outbox}}")),
		}}
}
