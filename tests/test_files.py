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


def _loosen(paths: list[Path]) -> None:
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_files_an_older_version_left_open_are_tightened_on_the_next_open(isolated_home: Path) -> None:
    with Ovo.open() as ovo:
        ovo.bind("081234567890")
        state = ovo.profile.state_dir
    sandbox = isolated_home / "sandbox"
    secrets = [sandbox / "partner_private_key.pem", sandbox / "partner_private_key.passphrase",
               sandbox / "credentials.toml", isolated_home / "vault.key", sandbox / "state.sqlite",
               *(state / n for n in ("calls.sqlite", "vault.sqlite", "ledger.sqlite"))]
    folders = [isolated_home, isolated_home / "state", state, sandbox]
    _loosen(secrets + folders)
    (state / "calls.sqlite-wal").write_bytes(b"")
    (state / "calls.sqlite-wal").chmod(0o644)
    with Ovo.open() as ovo:
        assert ovo.is_bound("081234567890")
        assert mode(state / "calls.sqlite-wal") == 0o600  # the write-ahead log holds the same records
    for path in secrets:
        assert mode(path) == 0o600, path
    for folder in folders:
        assert mode(folder) == 0o700, folder
    assert mode(sandbox / "public_key_x509.pem") == 0o644  # public: meant to be shared


def test_a_folder_outside_the_home_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "team"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    CallLog(shared / "calls.sqlite").close()
    assert mode(shared) == 0o755
    assert mode(shared / "calls.sqlite") == 0o600


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
@pytest.mark.parametrize("name", ["calls.sqlite", "ledger.sqlite", "vault.sqlite", "calls.sqlite-wal"])
def test_a_symlinked_state_file_is_refused_by_name(isolated_home: Path, tmp_path: Path, name: str,
                                                   dangling: bool) -> None:
    with Ovo.open() as ovo:
        state = ovo.profile.state_dir
    elsewhere = tmp_path / "elsewhere" / name
    elsewhere.parent.mkdir()
    if not dangling:
        elsewhere.write_bytes(b"someone else's file")
    (state / name).unlink(missing_ok=True)
    (state / name).symlink_to(elsewhere)
    with pytest.raises(StateFileError, match=rf"{name} is a symbolic link \(to .*elsewhere.*\): ovo-nb never reads "
                                             r"or writes its state through a link.*Replace the link"):
        Ovo.open()
    if dangling:
        assert not elsewhere.exists()  # nothing created outside the state folder
    else:
        assert elsewhere.read_bytes() == b"someone else's file"


@pytest.mark.parametrize("name", ["vault.key", "sandbox/partner_private_key.pem",
                                  "sandbox/partner_private_key.passphrase", "sandbox/credentials.toml"])
def test_symlinked_secret_files_are_refused_by_name(isolated_home: Path, tmp_path: Path, name: str) -> None:
    Ovo.open().close()
    path = isolated_home / name
    moved = tmp_path / "moved"
    path.rename(moved)
    path.symlink_to(moved)
    with pytest.raises(StateFileError, match=rf"{path.name} is a symbolic link"), Ovo.open() as ovo:
        ovo.bind("081234567890")


def test_a_running_sandbox_keeps_its_writes_while_other_commands_open_and_close_its_state(tmp_path: Path) -> None:
    """A process closing the last connection it sees checkpoints and deletes the write-ahead log: only a process
    that let go of its own locks can be taken for gone, and its later writes would land in a deleted file."""
    from sandbox_process import cli, serve

    from ovo_nb.sandbox import open_sandbox

    state = tmp_path / "sandbox" / "state.sqlite"
    server, url = serve(tmp_path)
    try:
        assert cli(tmp_path, "trigger", "set-customer", "081200000005", "cash=111.00", "--url", url).returncode == 0
        assert cli(tmp_path, "doctor", "--offline").returncode == 0  # opens and closes the same state file
        assert Path(f"{state}-wal").exists()  # still the server's
        refused = cli(tmp_path, "sandbox", "reset")
        assert refused.returncode == 2 and "is open in another process" in refused.stderr
        assert cli(tmp_path, "trigger", "set-customer", "081200000005", "cash=222.00", "--url", url).returncode == 0
    finally:
        server.terminate()
        assert server.wait(timeout=20) == 0
    sandbox, _ = open_sandbox(state, folder=tmp_path / "sandbox")
    try:
        assert sandbox.customer_view("081200000005")["cash"] == "222.00"
    finally:
        sandbox.store.close()
