"""Kafka plumbing: broker discovery, topic administration, transactional writes, reading a
compacted topic back. The edge where shopstream talks to Kafka."""
