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


# --------------------------------------------------------------------------- state on both backends


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A throw-away PostgreSQL cluster for the session (bench/pgcluster.py), stopped and removed at the end.

    Without a server here, every test that needs it skips with the reason."""
    from bench.pgcluster import throwaway_cluster, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(f"PostgreSQL tests need a server: {reason}")
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: object, request: pytest.FixtureRequest) -> str:
    """A URL on the session's cluster whose tables live in a schema of this test's own."""
    import uuid

    from ovo_nb.storage import with_schema

    return with_schema(pg_cluster.url, f"t_{uuid.uuid4().hex[:12]}")  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Where the storage tests keep the call log, vault and ledger: SQLite files, then a PostgreSQL schema."""
    from state_backends import Backend

    if request.param == "sqlite":
        yield Backend("sqlite", lambda room: str(tmp_path / f"{room}.sqlite"))
    else:
        url = request.getfixturevalue("pg_url")
        yield Backend("postgresql", lambda room: url, cluster=request.getfixturevalue("pg_cluster"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright: one per test module (tests/chromium.py)."""
    from chromium import CHROMIUM, CHROMIUM_ARGS

    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
