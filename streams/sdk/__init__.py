"""The producer SDK: :class:`streams.sdk.tracker.Tracker` sends contract events to Kafka."""
