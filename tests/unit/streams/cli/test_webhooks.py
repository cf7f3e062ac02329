"""``shopstream webhooks``: a URL urllib cannot POST to is refused before the broker is asked,
and an endpoint topic whose leader never becomes known is one line and exit 2, never a
traceback (the real broker's cases are in tests/integration/test_webhooks.py)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.cli import webhooks as webhooks_cli
from streams.cli.main import main
from streams.kafka import retrying
from streams.webhooks import endpoints


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("SHOPSTREAM_TOPIC_PREFIX", "unit.")


def test_an_impossible_port_is_refused_before_the_broker_is_asked(env, monkeypatch, capsys):
    def no_broker(*args, **kwargs):
        raise AssertionError("the broker was asked")

    monkeypatch.setattr(webhooks_cli, "EndpointStore", no_broker)
    assert main(["webhooks", "add", "--url", "http://127.0.0.1:99999/x",
                 "--types", "cart_abandoned"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("shopstream webhooks: a webhook URL is http(s)://host[:port]/path, not "
                   "'http://127.0.0.1:99999/x': a port is a number from 1 to 65535")


class LeaderNeverKnown:
    def __init__(self, config: dict) -> None:
        pass

    def assign(self, partitions) -> None:
        pass

    def get_watermark_offsets(self, tp, timeout):
        raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION,
                                        "Broker: Not leader for partition"))

    def close(self) -> None:
        pass


def test_list_when_the_new_topics_leader_never_answers_is_one_line(env, monkeypatch, capsys):
    monkeypatch.setattr(endpoints, "topics_for_producing", lambda settings, bootstrap: None)
    monkeypatch.setattr(endpoints, "ensure_webhook_topics", lambda settings, bootstrap: None)
    monkeypatch.setattr(endpoints, "Consumer", LeaderNeverKnown)
    monkeypatch.setattr(retrying, "DEADLINE_S", 0.05)
    assert main(["webhooks", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("shopstream webhooks: Kafka at 127.0.0.1:1 did not answer with the "
                          "end of unit.shop.webhooks [0] within 0.05 s (Broker: Not leader")
