"""Shared fixtures: an isolated ovo-nb home, and keys made once per session (RSA is slow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ovo_nb.keys import generate_private_key


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own OVO_NB_HOME and no passphrase or vault key from the outside."""
    home = tmp_path / "ovo-nb-home"
    monkeypatch.setenv("OVO_NB_HOME", str(home))
    monkeypatch.delenv("OVO_NB_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("OVO_NB_VAULT_KEY", raising=False)
    yield home


@pytest.fixture(scope="session")
def partner_key() -> rsa.RSAPrivateKey:
    return generate_private_key(2048)


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return generate_private_key(2048)


@pytest.fixture(scope="session")
def sandbox_key_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One partner key for every sandbox in the session (RSA generation is the slow part)."""
    return tmp_path_factory.mktemp("sandbox-partner")


@pytest.fixture
def h(sandbox_key_folder: Path) -> Iterator[object]:
    """A fresh in-memory sandbox with its default partner and a signed client."""
    from sandbox_harness import Harness

    harness = Harness(sandbox_key_folder)
    yield harness
    harness.http.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright: one per test module (tests/chromium.py)."""
    from chromium import CHROMIUM, CHROMIUM_ARGS

    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
