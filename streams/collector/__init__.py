"""The HTTP collector (``shopstream collector``): a stateless service that takes events over
HTTP (Segment's HTTP Tracking API, the flat envelope, the browser SDK it serves at
``/sdk.js``), checks the write key, stamps what only the server knows, and answers only after
Kafka acknowledged every event of the request."""
