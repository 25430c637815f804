"""Prometheus metrics of the plumbing, shared by every service (one process, one service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OUTBOX_BACKLOG = Gauge(
    "chorus_outbox_backlog_documents",
    "Aggregates holding events not yet acknowledged by Kafka",
    ["collection"],
)
OUTBOX_PUBLISHED = Counter(
    "chorus_outbox_published_events_total", "Events the relay got acknowledged", ["topic"]
)
OUTBOX_RELAY_ERRORS = Counter(
    "chorus_outbox_relay_errors_total", "Relay rounds that failed and will be retried", ["kind"]
)
CONSUMER_LAG = Gauge(
    "chorus_consumer_lag_messages", "High watermark minus position", ["group", "topic", "partition"]
)
CONSUMER_HANDLED = Counter(
    "chorus_consumer_handled_total", "Messages handled", ["group", "type", "outcome"]
)
CONSUMER_RETRIES = Counter(
    "chorus_consumer_retries_total", "Handler attempts that failed and were retried", ["group"]
)
DLQ_MESSAGES = Counter(
    "chorus_dlq_messages_total", "Messages parked on a dead-letter topic", ["group", "reason"]
)
CONSUMER_ASSIGNED = Gauge(
    "chorus_consumer_assigned_partitions", "Partitions this replica holds", ["group"]
)
DB_WRITE_COMMANDS = Counter(
    "chorus_db_write_commands_total",
    "Write commands (insert, update, delete, findAndModify) the database acknowledged",
    ["command"],
)
DB_WRITTEN_DOCUMENTS = Counter(
    "chorus_db_written_documents_total",
    "Documents those commands inserted, matched for update, or deleted",
    ["command"],
)
