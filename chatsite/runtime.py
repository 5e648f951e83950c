"""How an ASGI worker process runs Python (issue 3: many chats at once; issue 6: CPU per request).

With hundreds of chats in flight a worker holds many live objects (requests, SDK streams,
model rows) for the seconds the model takes, and allocates fast. CPython's cyclic garbage
collector then runs a young collection every 700 allocations and, as those objects
survive into the old generation, full collections that walk everything alive, including
the tens of thousands of objects Django and the libraries create at start-up. Measured
with 500 chats held in flight against a 2 s model (``bench/concurrency.py --held``, one
process): 16.0 ms of CPU per chat with Python's defaults, 11.5 ms with the start-up
objects frozen and a young threshold of 10,000; 11.9 ms with the collector off.
"""

from __future__ import annotations

import gc


def tune_garbage_collector(*, young_threshold: int) -> None:
    """Freeze what start-up created and collect the young generation less often.

    ``gc.freeze()`` moves every object alive now to a permanent generation that
    collections skip (what Instagram does in its web workers); cycles created later are
    still collected. Call once, at the end of start-up (``chatsite/asgi.py``).

    Args:
        young_threshold: allocations between young-generation collections
            (``gc.set_threshold``'s first value); 0 keeps Python's own.
    """
    gc.collect()
    gc.freeze()
    if young_threshold:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
