"""A view's SELECT, as the server stores it, limited to some partitions of its source."""

from __future__ import annotations

import pytest

from sinks.errors import ClickHouseError
from sinks.rollup_rebuild import sourced

SELECT = "SELECT tenant, count() AS n FROM shop.events AS e GROUP BY tenant"


def test_the_source_is_limited_to_the_partitions_asked_for():
    assert sourced(SELECT, "shop", "events", {"202603", "202602"}) == (
        "SELECT tenant, count() AS n FROM (SELECT * FROM `shop`.`events` WHERE _partition_id IN "
        "('202602', '202603')) AS e GROUP BY tenant")
    assert sourced(SELECT, "shop", "events", None) == SELECT
    quoted = SELECT.replace("shop.events", "`my-db`.`events`")
    assert "FROM (SELECT * FROM `my-db`.`events` WHERE" in sourced(quoted, "my-db", "events", {"1"})


@pytest.mark.parametrize("select", [
    "SELECT tenant FROM shop.events_archive",  # another table whose name starts the same
    "SELECT a FROM shop.events JOIN (SELECT a FROM shop.events) USING a",  # read twice
])
def test_a_select_that_does_not_read_its_source_exactly_once_is_refused(select):
    with pytest.raises(ClickHouseError, match="exactly once"):
        sourced(select, "shop", "events", {"202603"})
