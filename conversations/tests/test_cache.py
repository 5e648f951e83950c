"""The Redis cache that treats an unreachable Redis as a miss (issue 7: Redis going away)."""

from __future__ import annotations

import os
import socket

import pytest

from chatsite.cache import ResilientRedisCache


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once the socket is closed


def cache_at(url: str) -> ResilientRedisCache:
    return ResilientRedisCache(url, {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})


def test_every_operation_on_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    cache = cache_at(f"redis://127.0.0.1:{closed_port()}/0")
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("k") is False
    assert cache.add("k", 1) is False
    cache.set("k", 1)
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    cache.delete_many(["a"])


def test_a_reachable_redis_works_as_a_cache() -> None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("needs Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/15 (the CI does)")
    cache = cache_at(url)
    cache.delete_many(["resilient-a", "resilient-b"])
    cache.set("resilient-a", 1, 30)
    assert cache.add("resilient-a", 2, 30) is False
    assert cache.add("resilient-b", 3, 30) is True
    assert cache.get_many(["resilient-a", "resilient-b"]) == {"resilient-a": 1, "resilient-b": 3}
    assert cache.has_key("resilient-a") and cache.touch("resilient-a", 30)
    assert cache.delete("resilient-a") is True
    assert cache.get("resilient-a") is None
    cache.delete_many(["resilient-b"])
