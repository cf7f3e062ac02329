"""Deployment helpers: the local single-node Kafka broker (deploy/local), manifests."""
