"""The dataset store: uploads kept under unguessable, content-addressed ids.

Layout of the store folder (``TRACING_STORE_DIR``, default ``./dataset_store``)::

    .secret                      32+ random bytes, the key of the ids (unless TRACING_STORE_SECRET)
    ds-<32 hex>.<suffix>         one data file per distinct content
    .records/<id>/<who>.json     one upload record per uploader: who, when, the name they gave
    .pins/<id>/<why>.json        pins: a file a share link (or an operator) protects

- **Ids** are an HMAC-SHA256 of the content keyed by the secret (see `dataset_id`): stable for
  the same bytes, not derivable without the secret. The secret file is created atomically
  (written to a temporary file, then linked into place, so a reader never sees a half-written
  key) and refused when empty or shorter than `MIN_SECRET_BYTES`.
- **Upload records.** The same bytes uploaded by two people share one data file but each
  uploader has a record of their own, keyed by an opaque uploader key the app passes (default
  ``"anonymous"``): uploading reveals nothing about earlier uploads, and each uploader sees the
  name *they* gave (`dataset_name`). A link holder without a record sees the id.
- **Verification.** `read_dataset` checks the file against its id (the HMAC of its content);
  a damaged copy is an error, and uploading the same file again replaces it (`store_upload`).
- **Housekeeping.** `sweep` removes interrupted writes (``.ds-*.tmp`` older than an hour) and,
  with ``TRACING_STORE_RETENTION_DAYS``, files nobody uploaded again within that many days,
  never a pinned one. ``TRACING_STORE_QUOTA_MB`` caps the total size; an upload past it first
  sweeps expired files, then is refused with a clear message.

Operators: `add_store_parser` / `run_store` implement ``python -m tracing store
list|delete|sweep``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tracing import settings
from tracing.errors import DataError
from tracing.io import table_format

__all__ = [
    "ANONYMOUS",
    "ENV_STORE_DIR",
    "ENV_STORE_QUOTA_MB",
    "ENV_STORE_RETENTION_DAYS",
    "ENV_STORE_SECRET",
    "MIN_SECRET_BYTES",
    "DatasetInfo",
    "SweepResult",
    "add_store_parser",
    "dataset_id",
    "dataset_name",
    "delete_dataset",
    "is_dataset_id",
    "list_datasets",
    "pin",
    "pins",
    "read_dataset",
    "run_store",
    "store_dir",
    "store_upload",
    "sweep",
    "table_suffix",
    "unpin",
    "uploaded_by",
]

ENV_STORE_DIR = "TRACING_STORE_DIR"
ENV_STORE_SECRET = "TRACING_STORE_SECRET"
ENV_STORE_QUOTA_MB = "TRACING_STORE_QUOTA_MB"
ENV_STORE_RETENTION_DAYS = "TRACING_STORE_RETENTION_DAYS"

ANONYMOUS = "anonymous"
MIN_SECRET_BYTES = 32
TEMP_MAX_AGE_S = 3600.0
_SECRET_FILE = ".secret"
_RECORDS = ".records"
_PINS = ".pins"
# Longest first, so ".csv.gz" wins over ".csv"... and ".gz" alone is never a suffix.
_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".csv", ".tsv", ".txt", ".pq")
_ID_RE = re.compile(r"^ds-([0-9a-f]{32})(" + "|".join(map(re.escape, _SUFFIXES)) + r")$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetInfo:
    """One stored dataset, as `list_datasets` reports it.

    Attributes
    ----------
    ref : str
        The dataset id.
    size : int
        Bytes on disk.
    last_upload : float
        Newest upload record's time (epoch seconds), else the file's modification time.
    uploads : int
        Number of upload records (distinct uploaders).
    pins : tuple of str
        Reasons it is pinned (empty: not pinned).
    intact : bool or None
        Whether the content matches its id (``None`` when not verified).
    """

    ref: str
    size: int
    last_upload: float
    uploads: int
    pins: tuple[str, ...]
    intact: bool | None = None


@dataclass
class SweepResult:
    """What `sweep` removed.

    Attributes
    ----------
    temps : list of str
        Leftover temporary files removed.
    expired : list of str
        Dataset ids removed by the retention rule.
    freed : int
        Bytes freed.
    """

    temps: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    freed: int = 0


def store_dir() -> Path:
    """Return the dataset store folder (``TRACING_STORE_DIR`` or ``./dataset_store``)."""
    return Path(settings.get(ENV_STORE_DIR)).resolve()


def is_dataset_id(ref: str) -> bool:
    """Whether ``ref`` has the form of a dataset id (``ds-<32 hex>.<suffix>``)."""
    return bool(_ID_RE.match(ref))


def table_suffix(name: str) -> str:
    """Return a table file name's suffix (``.csv.gz``, ``.parquet``...), or refuse the type."""
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    table_format(name)  # raises the standard "unsupported file type" DataError
    return ""


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (never half-written)."""
    tmp = path.with_name(f".ds-{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _secret() -> bytes:
    """Return the key of the ids: ``TRACING_STORE_SECRET``, else the store's ``.secret`` file."""
    env = str(settings.get(ENV_STORE_SECRET))
    if env:
        return env.encode()
    folder = store_dir()
    path = folder / _SECRET_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".ds-secret-{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(MIN_SECRET_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            # link() refuses to replace: the first server process to get here wins, and the
            # secret appears complete or not at all.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    key = path.read_bytes()
    if len(key) < MIN_SECRET_BYTES:
        state = "empty" if not key else "too short"
        raise DataError(
            f"the dataset store's secret file ({_SECRET_FILE} in {ENV_STORE_DIR}) is {state} "
            f"({len(key)} bytes, at least {MIN_SECRET_BYTES} needed), so dataset ids would be "
            "guessable; restore it from a backup, or delete it so a new one is created "
            f"(existing dataset links then stop working), or set {ENV_STORE_SECRET}."
        )
    return key


def _digest(key: bytes, chunks: object) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for chunk in chunks:  # type: ignore[attr-defined]
        mac.update(chunk)
    return mac.hexdigest()[:32]


def dataset_id(data: bytes, name: str) -> str:
    """Return the id an upload is stored under.

    The id is an HMAC-SHA256 of the content keyed by the server's secret (truncated to 128 bits),
    plus the original suffix. Content-addressing makes the id stable (re-uploading the same file
    gives the same id, so links keep working and the store does not fill with copies); the secret
    makes it unguessable: knowing or guessing a file's content is not enough to compute its id,
    and ids cannot be enumerated.

    Parameters
    ----------
    data : bytes
        The uploaded file's content.
    name : str
        The uploaded file's name; only its suffix is used.

    Returns
    -------
    str
        ``ds-<32 hex>.<suffix>``.
    """
    return f"ds-{_digest(_secret(), [data])}{table_suffix(name)}"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _intact(path: Path, ref: str) -> bool:
    found = _ID_RE.match(ref)
    if found is None or not path.is_file():
        return False

    def chunks() -> object:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    return hmac.compare_digest(_digest(_secret(), chunks()), found.group(1))


def _data_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_dataset_id(p.name) and p.is_file())


def _quota_bytes() -> int | None:
    mb = settings.get(ENV_STORE_QUOTA_MB)
    return None if mb is None else int(mb * 2**20)


def store_upload(data: bytes, name: str, *, uploader: str = ANONYMOUS) -> str:
    """Keep an uploaded file in the dataset store, record who uploaded it, and return its id.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        The name the uploader gave (kept for them; the suffix picks the format).
    uploader : str, optional
        An opaque key of the uploader (a session or account id); default ``"anonymous"``.

    Returns
    -------
    str
        The dataset id, usable as a ``baseline``/``production`` reference.

    Raises
    ------
    DataError
        If the file type is not CSV or Parquet, the file is empty, or the store is full.
    """
    if not data:
        raise DataError(f"{name}: the file is empty; it needs a header row and data.")
    ref = dataset_id(data, name)
    folder = store_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _sweep_temps(folder, time.time(), SweepResult())
    target = folder / ref
    if not _intact(target, ref):  # new, or a damaged copy that this upload repairs
        _make_room(folder, len(data), exclude=target)
        _atomic_write(target, data)
    _write_record(folder, ref, uploader, Path(name).name)
    return ref


def _make_room(folder: Path, size: int, *, exclude: Path) -> None:
    quota = _quota_bytes()
    if quota is None:
        return

    def used() -> int:
        return sum(p.stat().st_size for p in _data_files(folder) if p != exclude)

    if used() + size <= quota:
        return
    sweep()
    if used() + size > quota:
        raise DataError(
            f"the dataset store is full ({used() / 2**20:,.1f} MB used of its "
            f"{quota / 2**20:,.0f} MB quota, this file needs {size / 2**20:,.1f} MB); try again "
            f"later, or ask the operator to free space (python -m tracing store sweep/delete) "
            f"or raise {ENV_STORE_QUOTA_MB}."
        )


def _write_record(folder: Path, ref: str, uploader: str, name: str) -> None:
    records = folder / _RECORDS / ref
    records.mkdir(parents=True, exist_ok=True)
    now = time.time()
    record = {
        "uploader": uploader,
        "name": name,
        "time": now,
        "when": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
    }
    _atomic_write(records / f"{_key(uploader)}.json", json.dumps(record).encode())


def _records(folder: Path, ref: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    records = folder / _RECORDS / ref
    paths = sorted(records.glob("*.json")) if records.is_dir() else []
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def uploaded_by(ref: str, uploader: str) -> bool:
    """Whether ``uploader`` has an upload record of ``ref`` (the app lets them delete it)."""
    return (store_dir() / _RECORDS / ref / f"{_key(uploader)}.json").is_file()


def dataset_name(ref: str, *, uploader: str = ANONYMOUS) -> str:
    """Return the name ``uploader`` gave the dataset, or the id when they have no record.

    Files stored before upload records existed have a ``<id>.json`` with the (anonymous)
    uploader's name; it counts as the ``"anonymous"`` record.
    """
    folder = store_dir()
    path = folder / _RECORDS / ref / f"{_key(uploader)}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads(path.read_text(encoding="utf-8"))["name"]) or ref
    legacy = folder / f"{ref}.json"
    if uploader == ANONYMOUS and legacy.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return str(json.loads(legacy.read_text(encoding="utf-8"))["name"]) or ref
    return ref


def read_dataset(ref: str) -> bytes:
    """Return a stored dataset's bytes after checking them against the id.

    Raises
    ------
    DataError
        If the id is unknown, or the stored copy no longer matches it (damaged on disk).
    """
    path = store_dir() / ref
    if not is_dataset_id(ref) or not path.is_file():
        raise DataError(
            f"dataset {ref} is not in this server's dataset store (it may have been deleted or "
            "the link comes from another server); upload the file again."
        )
    data = path.read_bytes()
    found = _ID_RE.match(ref)
    assert found is not None
    if not hmac.compare_digest(_digest(_secret(), [data]), found.group(1)):
        raise DataError(
            f"dataset {ref}: the stored copy is damaged (its content no longer matches its id); "
            "upload the file again to repair it."
        )
    return data


# --- pins ---------------------------------------------------------------------------------------


def pin(ref: str, reason: str) -> None:
    """Protect a dataset from retention and quota sweeps (e.g. ``reason="share:<link id>"``).

    Raises
    ------
    DataError
        If the id is not in the store.
    """
    folder = store_dir()
    if not is_dataset_id(ref) or not (folder / ref).is_file():
        raise DataError(f"dataset {ref} is not in this server's dataset store; cannot pin it.")
    where = folder / _PINS / ref
    where.mkdir(parents=True, exist_ok=True)
    record = {"reason": reason, "time": time.time()}
    _atomic_write(where / f"{_key(reason)}.json", json.dumps(record).encode())


def unpin(ref: str, reason: str) -> bool:
    """Remove one pin; return whether it existed."""
    path = store_dir() / _PINS / ref / f"{_key(reason)}.json"
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        path.parent.rmdir()
    return True


def pins(ref: str) -> tuple[str, ...]:
    """Return the reasons ``ref`` is pinned (empty when it is not)."""
    where = store_dir() / _PINS / ref
    reasons: list[str] = []
    for path in sorted(where.glob("*.json")) if where.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            reasons.append(str(json.loads(path.read_text(encoding="utf-8"))["reason"]))
    return tuple(reasons)


# --- operations ---------------------------------------------------------------------------------


def _last_upload(folder: Path, path: Path) -> float:
    times = [t for r in _records(folder, path.name) if isinstance(t := r.get("time"), float)]
    return max(times) if times else path.stat().st_mtime


def list_datasets(*, verify: bool = False) -> list[DatasetInfo]:
    """Return every stored dataset, oldest last upload first.

    Parameters
    ----------
    verify : bool, optional
        Also check each file against its id (reads every file).
    """
    folder = store_dir()
    found = [
        DatasetInfo(
            ref=path.name,
            size=path.stat().st_size,
            last_upload=_last_upload(folder, path),
            uploads=len(_records(folder, path.name)),
            pins=pins(path.name),
            intact=_intact(path, path.name) if verify else None,
        )
        for path in _data_files(folder)
    ]
    return sorted(found, key=lambda d: d.last_upload)


def delete_dataset(ref: str, *, force: bool = False) -> int:
    """Remove a dataset, its upload records and (with ``force``) its pins; return bytes freed.

    Raises
    ------
    DataError
        If ``ref`` is not a stored dataset, or it is pinned and ``force`` is not given.
    """
    folder = store_dir()
    path = folder / ref
    if not is_dataset_id(ref) or not path.is_file():
        raise DataError(f"dataset {ref} is not in this server's dataset store.")
    reasons = pins(ref)
    if reasons and not force:
        raise DataError(
            f"dataset {ref} is pinned ({', '.join(reasons)}); remove the pins first, or delete "
            "with --force (links that use it stop working)."
        )
    return _remove(folder, ref, with_pins=force)


def _remove(folder: Path, ref: str, *, with_pins: bool) -> int:
    path = folder / ref
    size = path.stat().st_size if path.is_file() else 0
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(FileNotFoundError):
        (folder / f"{ref}.json").unlink()
    shutil.rmtree(folder / _RECORDS / ref, ignore_errors=True)
    if with_pins:
        shutil.rmtree(folder / _PINS / ref, ignore_errors=True)
    return size


def _sweep_temps(folder: Path, now: float, result: SweepResult) -> None:
    for tmp in folder.glob(".ds-*.tmp") if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            stat = tmp.stat()
            if now - stat.st_mtime > TEMP_MAX_AGE_S:
                tmp.unlink()
                result.temps.append(tmp.name)
                result.freed += stat.st_size


def sweep(*, now: float | None = None, retention_days: float | None = -1.0) -> SweepResult:
    """Remove leftover temporary files and, with a retention, expired unpinned datasets.

    Parameters
    ----------
    now : float, optional
        The current time (epoch seconds); tests pass a later one.
    retention_days : float or None, optional
        Days since the last upload after which an unpinned dataset is removed; ``None`` keeps
        every dataset. Default: ``TRACING_STORE_RETENTION_DAYS``.

    Returns
    -------
    SweepResult
    """
    folder = store_dir()
    when = time.time() if now is None else now
    days = settings.get(ENV_STORE_RETENTION_DAYS) if retention_days == -1.0 else retention_days
    result = SweepResult()
    _sweep_temps(folder, when, result)
    if days is not None:
        for path in _data_files(folder):
            if when - _last_upload(folder, path) > days * 86400 and not pins(path.name):
                result.freed += _remove(folder, path.name, with_pins=False)
                result.expired.append(path.name)
    return result


def add_store_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``store list|delete|sweep`` to a CLI's subcommands; return the ``store`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "store", help="list, delete or sweep the dataset store"
    )
    actions = parser.add_subparsers(dest="store_command", required=True)
    listing = actions.add_parser("list", help="list stored datasets")
    listing.add_argument("--verify", action="store_true", help="check every file against its id")
    delete = actions.add_parser("delete", help="delete datasets by id")
    delete.add_argument("ids", nargs="+", metavar="ID")
    delete.add_argument("--force", action="store_true", help="delete even when pinned")
    swept = actions.add_parser("sweep", help="remove temporary files and expired datasets")
    swept.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help=f"override {ENV_STORE_RETENTION_DAYS} for this sweep",
    )
    return parser


def run_store(args: argparse.Namespace) -> str:
    """Run a ``store`` subcommand parsed by `add_store_parser`; return the text to print.

    Raises
    ------
    DataError
        Unknown or pinned ids (delete), bad settings.
    """
    command = args.store_command
    if command == "list":
        rows = list_datasets(verify=args.verify)
        if not rows:
            return f"the dataset store ({store_dir()}) is empty"
        head = "id\tbytes\tlast upload (UTC)\tuploaders\tpins"
        lines = [head + ("\tintact" if args.verify else "")]
        for d in rows:
            when = datetime.fromtimestamp(d.last_upload, UTC).isoformat(timespec="seconds")
            line = f"{d.ref}\t{d.size}\t{when}\t{d.uploads}\t{','.join(d.pins) or '-'}"
            lines.append(line + (f"\t{'yes' if d.intact else 'NO'}" if args.verify else ""))
        return "\n".join(lines)
    if command == "delete":
        freed = sum(delete_dataset(ref, force=args.force) for ref in args.ids)
        return f"deleted {len(args.ids)} dataset(s), {freed:,} bytes freed"
    if command == "sweep":
        days = args.retention_days
        result = sweep() if days is None else sweep(retention_days=days if days > 0 else None)
        return (
            f"removed {len(result.temps)} temporary file(s) and {len(result.expired)} expired "
            f"dataset(s), {result.freed:,} bytes freed"
        )
    raise DataError(f"unknown store command {command!r}; use list, delete or sweep.")
