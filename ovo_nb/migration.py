"""Moving a profile's state into a team's database, and upgrading a shared database's schema.

``ovo-nb state migrate --to postgresql://...`` copies one person's SQLite state (the call log, the token vault,
the partner ledger) into the profile's schema of the team's database, then checks it: every row of the files is
in the database, and the payments' and refunds' amounts add up to the same sums under the same references. Run
twice, it writes nothing the second time. Sealed values (tokens, full exchanges) are opened with the key they were
sealed with and sealed again with the team's key (``$OVO_NB_VAULT_KEY_FILE``); none is ever written in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ._files import read_private_file
from .calllog import SCHEMA as CALLS
from .calllog import CallLog
from .config import Profile
from .errors import ValidationError
from .ledger import SCHEMA as LEDGER
from .ledger import PartnerLedger
from .secretbox import SecretBox, default_key_file
from .storage import is_database_url, masked, open_store, with_schema
from .tokens import SCHEMA as VAULT
from .tokens import TokenVault

__all__ = ["Moved", "migrate", "upgrade"]


@dataclass(frozen=True)
class Moved:
    """One table's copy: rows in the files, written now, found in the database afterwards; sums for money."""

    table: str
    rows: int
    written: int
    found: int
    amount: Decimal | None = None
    amount_found: Decimal | None = None

    @property
    def ok(self) -> bool:
        return self.found == self.rows and self.amount == self.amount_found

    def line(self) -> str:
        money = "" if self.amount is None else f", IDR {self.amount:,.2f} here and {self.amount_found:,.2f} there"
        verdict = "checked" if self.ok else "MISMATCH"
        return (f"{self.table:<10} {self.rows:>7} in the files, {self.written:>7} copied now, {self.found:>7} found in "
                f"the database{money}: {verdict}")


def migrate(profile: Profile, to: str, *, source_key: str | Path | None = None) -> list[Moved]:
    """Copy ``profile``'s SQLite state into the database at ``to`` (its schema ``ovo_nb_<profile>``) and check it.

    ``source_key`` is the key file the SQLite state was sealed with (default: this home's ``vault.key``, or
    ``$OVO_NB_VAULT_KEY``); the database's tokens are sealed with the team's (``$OVO_NB_VAULT_KEY_FILE``).
    """
    if not is_database_url(to):
        raise ValidationError(f"--to must be a postgresql:// URL; got {masked(to)!r}.")
    files = {room: profile.state_file(room) for room in ("calls", "vault", "ledger")}
    if not any(path.exists() for path in files.values()):
        raise ValidationError(f"No state to migrate in {profile.state_dir}: the {profile.name} profile has no call "
                              "log, vault or ledger files there yet.")
    target = with_schema(to, profile.state_schema)
    old_box, team_box = _source_box(source_key), SecretBox.default()
    moved: list[Moved] = []
    if files["calls"].exists():
        with CallLog(files["calls"], box=old_box) as source, CallLog(target, box=team_box) as into:
            written, found = source.copy_into(into)
            moved.append(Moved("calls", source.count(), written, found))
    if files["vault"].exists():
        source_vault, into_vault = TokenVault(files["vault"], box=old_box), TokenVault(target, box=team_box)
        try:
            for table, (rows, written, found) in source_vault.copy_into(into_vault).items():
                moved.append(Moved(table, rows, written, found))
        finally:
            source_vault.close()
            into_vault.close()
    if files["ledger"].exists():
        source_ledger, into_ledger = PartnerLedger(files["ledger"]), PartnerLedger(target)
        try:
            for table, (rows, written, found, here, there) in source_ledger.copy_into(into_ledger).items():
                money = table != "history"
                moved.append(Moved(table, rows, written, found, here if money else None, there if money else None))
        finally:
            source_ledger.close()
            into_ledger.close()
    return moved


def _source_box(source_key: str | Path | None) -> SecretBox:
    """The key the files were sealed with: ``source_key``, else this home's ``vault.key``, else the default."""
    path = Path(source_key).expanduser() if source_key else default_key_file()
    if not source_key and not path.exists():
        return SecretBox.default()
    try:
        return SecretBox(read_private_file(path).strip())
    except FileNotFoundError:
        raise ValidationError(f"--source-key {path}: no such file.") from None


def upgrade(profile: Profile) -> list[str]:
    """Bring the schema of ``profile``'s shared database up to this ovo-nb's, in place; one line per room."""
    if not profile.state_url:
        raise ValidationError(f"The {profile.name} profile keeps its state in SQLite files ({profile.state_dir}), "
                              "which are upgraded when opened: nothing to do. Set state_url for a team's database.")
    lines = []
    for schema in (CALLS, VAULT, LEDGER):
        store = open_store(profile.state_location(schema.room), schema, upgrade=True)
        lines.append(f"{schema.room:<7} schema version {schema.version} in {store.where}")
        store.close()
    return lines
