"""The project's settings for the servers the fault tests start, without collectstatic.

Everything is ``chatsite.settings`` (read from the environment as in production),
except static files come from the finders: production's manifest storage needs
``collectstatic`` first, which a test should not write into the checkout.
"""

from __future__ import annotations

from chatsite.settings import *  # noqa: F403
from chatsite.settings import STORAGES

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
