"""A single-node KRaft Kafka broker from the Apache Kafka jars that Maven resolves."""

from deploy.local.broker import KAFKA_VERSION, BrokerError, LocalBroker, resolve_kafka_jars

__all__ = ["KAFKA_VERSION", "BrokerError", "LocalBroker", "resolve_kafka_jars"]
