"""The ASGI worker's garbage collector settings (chatsite/runtime.py; issue 3: many chats at once)."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator

import pytest
from django.conf import settings

from chatsite.runtime import tune_garbage_collector


@pytest.fixture
def _collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("_collector_restored")
def test_it_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    tune_garbage_collector(young_threshold=12_345)
    assert gc.get_threshold()[0] == 12_345
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("_collector_restored")
def test_zero_keeps_pythons_own_threshold() -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector(young_threshold=0)
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.usefixtures("_collector_restored")
def test_cycles_made_after_start_up_are_still_collected() -> None:
    tune_garbage_collector(young_threshold=settings.GC_YOUNG_THRESHOLD)

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle
    del a, b
    assert gc.collect() >= 2


@pytest.mark.usefixtures("_collector_restored")
def test_the_asgi_application_applies_the_setting_when_it_is_built() -> None:
    import chatsite.asgi

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    importlib.reload(chatsite.asgi)  # what each uvicorn worker does once, at start
    assert settings.GC_YOUNG_THRESHOLD == 10_000  # the default
    assert gc.get_threshold()[0] == 10_000
    assert gc.get_freeze_count() > 0
