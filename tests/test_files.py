"""State files: private from the start, checkpointed on close, and a damaged one named and left alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ovo_nb.calllog import CallLog
from ovo_nb.errors import KeyFileError, StateFileError
from ovo_nb.flows import Ovo
from ovo_nb.ledger import PartnerLedger
from ovo_nb.secretbox import SecretBox
from ovo_nb.tokens import TokenVault


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_folders_and_databases_are_private(isolated_home: Path) -> None:
    with Ovo.open() as ovo:
        state = ovo.profile.state_dir
    assert mode(isolated_home) == 0o700
    for folder in (state, state.parent, isolated_home / "sandbox"):
        assert mode(folder) == 0o700, folder
    for name in ("calls.sqlite", "vault.sqlite", "ledger.sqlite"):
        assert mode(state / name) == 0o600, name
    assert mode(isolated_home / "sandbox" / "state.sqlite") == 0o600


@pytest.mark.parametrize("opener", [CallLog, TokenVault, PartnerLedger], ids=["call log", "vault", "ledger"])
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_state_file_is_named_and_untouched(tmp_path: Path, opener: type, damage: str) -> None:
    path = tmp_path / "state.sqlite"
    if damage == "garbage":
        path.write_bytes(b"\x00not sqlite at all" * 64)
    else:
        opener(path).close()
        path.write_bytes(path.read_bytes()[:1500])  # a copy cut short
    before = path.read_bytes()
    with pytest.raises(StateFileError, match=r"state.sqlite is not an ovo-nb state file or is damaged .*move it aside"):
        opener(path)
    assert path.read_bytes() == before


def test_ovo_open_names_a_damaged_ledger(isolated_home: Path) -> None:
    with Ovo.open() as ovo:
        ledger = ovo.profile.state_dir / "ledger.sqlite"
    ledger.write_bytes(b"garbage" * 100)
    with pytest.raises(StateFileError, match="ledger.sqlite"):
        Ovo.open()


def test_a_garbage_vault_key_is_named_with_what_a_new_one_costs(isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True)
    (isolated_home / "vault.key").write_text("not a key")
    with pytest.raises(KeyFileError, match=r"vault.key is not a vault key.*restore it from a backup.*bind again"):
        SecretBox.default()
