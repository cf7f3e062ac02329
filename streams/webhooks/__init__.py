"""Webhook delivery of triggers: endpoints kept in a compacted Kafka topic, one consumer
group per endpoint, signed JSON POSTs retried with backoff, dead letters when they fail."""
