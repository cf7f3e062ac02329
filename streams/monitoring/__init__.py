"""Prometheus metrics of the worker, and reading a worker's ``/metrics`` back into numbers."""
