"""A real OpenID Connect provider on loopback for the single sign-on tests: panva's oidc-provider (npm).

``tools/oidc/provider.mjs`` runs it under Node.js with its development sign-in and consent pages
(any password; the login name is the account's subject). It is pinned in
``tools/oidc/package-lock.json`` and installed by ``make install-dev`` (``npm ci``); a test that needs
it and does not find it fails, saying how to install it.

The chat is configured for it the way production is: the ``OIDC_*`` environment variables, read by
``chatsite/settings.py`` in a separate process (``providers_from_environment``).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from django.conf import settings

PROJECT = Path(settings.BASE_DIR)
TOOL = PROJECT / "tools" / "oidc"
SCRIPT = TOOL / "provider.mjs"
PACKAGE = TOOL / "node_modules" / "oidc-provider" / "package.json"
HOW_TO_INSTALL = (
    "run `make install-dev` (it runs `npm ci` in tools/oidc), or `cd tools/oidc && npm ci`; "
    "Node.js and npm come from `bash .ci/system-deps.sh`"
)
STARTUP_SECONDS = 20


def node_or_fail() -> str:
    """Node.js, with oidc-provider installed beside the script; else the test fails saying how to install them."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"Node.js is not installed: the single sign-on tests run an OpenID Connect provider on it; {HOW_TO_INSTALL}.",
            pytrace=False,
        )
    if not PACKAGE.exists():
        pytest.fail(
            f"The test OpenID Connect provider (npm oidc-provider) is not installed in tools/oidc; {HOW_TO_INSTALL}.",
            pytrace=False,
        )
    return node


def _read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Every line the provider prints, then "" when it has ended."""
    for line in stream:
        lines.put(line)
    lines.put("")


class OIDCProvider:
    """``with OIDCProvider(clients=[...], accounts={...}) as provider:``: serving at ``provider.issuer``.

    Args:
        clients: oidc-provider client metadata (``client_id``, ``client_secret``, ``redirect_uris``, ...).
        accounts: claims by login name (``email``, ``email_verified``, ``preferred_username``, ...).
    """

    def __init__(self, *, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]]) -> None:
        self._config = {"clients": clients, "accounts": accounts}
        self._process: subprocess.Popen[str] | None = None
        self._log = tempfile.TemporaryFile(mode="w+")
        self.issuer = ""

    def __enter__(self) -> OIDCProvider:
        node = node_or_fail()
        env = {**os.environ, "OIDC_TEST_CONFIG": json.dumps(self._config)}
        self._process = subprocess.Popen(
            [node, str(SCRIPT)], cwd=TOOL, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(self._process.stdout, lines), daemon=True).start()
        try:
            first = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            first = ""
        if not first.startswith("listening "):
            self._log.seek(0)
            log = self._log.read()
            self.__exit__()
            pytest.fail(f"The test OpenID Connect provider did not start:\n{first}{log}", pytrace=False)
        self.issuer = first.split(" ", 1)[1].strip()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


def read_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import ``chatsite/settings.py`` in a separate process with these variables added (settings are read
    once, at start-up) and print its ``SOCIALACCOUNT_PROVIDERS`` as JSON."""
    code = "import json, chatsite.settings as s; print(json.dumps(s.SOCIALACCOUNT_PROVIDERS))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def providers_from_environment(**env: str) -> dict[str, Any]:
    """``SOCIALACCOUNT_PROVIDERS`` as ``chatsite/settings.py`` makes it from these ``OIDC_*`` variables."""
    result = read_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
