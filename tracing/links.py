"""Share links as immutable server-side snapshots: ``?link=lk-...``.

A link record freezes what its creator saw: the dataset references, every role and option
resolved at the time (not "detect it again", which a later release may do differently), the page
and the selected slice. It lives in the dataset store's folder (``.links/<id>.json``), so it
survives restarts and every replica that shares the store serves it. The link itself carries
only the record's random id: no dataset path, no source URL and no presigned token appears in
it, and an id cannot be guessed (128 random bits).

Each record pins the stored datasets it uses (`tracing.store.pin`), so retention and quota
sweeps keep them while the link lives. A record has a format version (`LINK_FORMAT`): a record
written by this release keeps opening in later ones (a test holds a format-1 record), and a
record from a newer release is refused with a clear message rather than misread. Links expire
after ``TRACING_LINK_DAYS`` days when that is set; `sweep_links` removes expired records and
their pins.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracing import settings, store
from tracing.errors import DataError

__all__ = [
    "LINK_FORMAT",
    "LinkRecord",
    "create_link",
    "delete_link",
    "is_link_id",
    "load_link",
    "sweep_links",
]

LINK_FORMAT = 1
_FOLDER = ".links"
_ID = re.compile(r"^lk-[A-Za-z0-9_-]{22}$")
_DATASET_PARAMS = ("baseline", "production", "actuals")


@dataclass(frozen=True)
class LinkRecord:
    """One share link's frozen view.

    Attributes
    ----------
    id : str
        ``lk-`` and 22 URL-safe characters.
    format : int
        The record's format version.
    created : datetime
        When it was made (UTC).
    creator : str
        Who made it (their email, or ``"anonymous"`` without sign-in).
    expires : datetime or None
        When it stops opening (None: never).
    page : str
        The page it opens on (``"slices"``...).
    params : dict of str -> str or list of str
        The view's URL parameters, every role and option resolved (a list for a parameter
        given several times, such as the features sliced by).
    datasets : tuple of str
        The dataset-store ids it uses (pinned while it lives).
    """

    id: str
    format: int
    created: datetime
    creator: str
    expires: datetime | None
    page: str
    params: dict[str, str | list[str]]
    datasets: tuple[str, ...]

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the link no longer opens."""
        return self.expires is not None and (now or datetime.now(UTC)) >= self.expires

    def to_json(self) -> dict[str, Any]:
        """Return the record as stored."""
        return {
            "format": self.format,
            "id": self.id,
            "created": self.created.isoformat(),
            "creator": self.creator,
            "expires": self.expires.isoformat() if self.expires else None,
            "page": self.page,
            "params": self.params,
            "datasets": list(self.datasets),
        }


def is_link_id(text: str) -> bool:
    """Whether ``text`` has the form of a link id."""
    return bool(_ID.match(text))


def _folder() -> Path:
    return store.store_dir() / _FOLDER


def _reason(link_id: str) -> str:
    return f"share:{link_id}"


def _param(value: object) -> str | list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)


def create_link(
    params: Mapping[str, str | list[str]],
    *,
    page: str,
    creator: str = store.ANONYMOUS,
    days: float | None = -1.0,
    now: datetime | None = None,
) -> LinkRecord:
    """Write a link record for a view and pin its stored datasets.

    Parameters
    ----------
    params : mapping of str -> str or list of str
        The view's URL parameters with every role and option resolved.
    page : str
        The page the link opens on.
    creator : str
        Who makes it.
    days : float or None, optional
        Lifetime in days (None: forever); default ``TRACING_LINK_DAYS``.
    now : datetime, optional
        The clock (tests).

    Returns
    -------
    LinkRecord
    """
    when = now or datetime.now(UTC)
    lifetime = settings.get("TRACING_LINK_DAYS") if days == -1.0 else days
    datasets = tuple(
        dict.fromkeys(
            v for k in _DATASET_PARAMS if store.is_dataset_id(v := str(params.get(k) or ""))
        )
    )
    record = LinkRecord(
        id=f"lk-{secrets.token_urlsafe(16)}",
        format=LINK_FORMAT,
        created=when,
        creator=creator,
        expires=when + timedelta(days=lifetime) if lifetime else None,
        page=page,
        params={str(k): _param(v) for k, v in params.items()},
        datasets=datasets,
    )
    for ref in datasets:
        store.pin(ref, _reason(record.id))
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{record.id}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record.to_json(), indent=2), encoding="utf-8")
    os.replace(tmp, folder / f"{record.id}.json")  # readers never see half a record
    return record


_MISSING = (
    "This link does not open on this server: it was removed, or it comes from another "
    "deployment. Ask the person who shared it for a new one."
)


def _read(link_id: str) -> LinkRecord:
    if not is_link_id(link_id):
        raise DataError(_MISSING)
    path = _folder() / f"{link_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(_MISSING) from None
    except (OSError, ValueError) as exc:
        message = f"link {link_id}: its record is damaged ({exc}); ask for a new one."
        raise DataError(message) from exc
    version = data.get("format")
    if not isinstance(version, int) or version > LINK_FORMAT:
        raise DataError(
            f"link {link_id} was made by a newer release of this app (format {version!r}); "
            "upgrade this server to open it."
        )
    expires = data.get("expires")
    return LinkRecord(
        id=str(data["id"]),
        format=version,
        created=datetime.fromisoformat(data["created"]),
        creator=str(data.get("creator", store.ANONYMOUS)),
        expires=datetime.fromisoformat(expires) if expires else None,
        page=str(data.get("page", "overview")),
        params={str(k): _param(v) for k, v in dict(data.get("params", {})).items()},
        datasets=tuple(str(d) for d in data.get("datasets", [])),
    )


def load_link(link_id: str, *, now: datetime | None = None) -> LinkRecord:
    """Return a link's record, or say why it no longer opens.

    Raises
    ------
    DataError
        Unknown or malformed id, expired link, a dataset deleted since, or a record from a
        newer release; each message says what the visitor can do.
    """
    record = _read(link_id)
    if record.expired(now):
        assert record.expires is not None
        raise DataError(
            f"This link expired on {record.expires:%Y-%m-%d} (links last "
            f"{(record.expires - record.created).days} days here). Ask the person who shared it "
            "for a new one."
        )
    gone = [ref for ref in record.datasets if not (store.store_dir() / ref).is_file()]
    if gone:
        raise DataError(
            "This link's data was deleted by the person who uploaded it, so the link no longer "
            "opens. Ask them for a new link."
        )
    return record


def delete_link(link_id: str) -> bool:
    """Remove a link record and its pins; return whether it existed."""
    try:
        record = _read(link_id)
    except DataError:
        return False
    for ref in record.datasets:
        store.unpin(ref, _reason(record.id))
    with contextlib.suppress(FileNotFoundError):
        (_folder() / f"{record.id}.json").unlink()
    return True


def sweep_links(*, now: datetime | None = None) -> list[str]:
    """Remove expired link records and release their pins; return the ids removed."""
    folder = _folder()
    removed = []
    for path in sorted(folder.glob("lk-*.json")) if folder.is_dir() else []:
        try:
            record = _read(path.stem)
        except DataError:
            continue  # damaged or newer-format records are the operator's to look at
        if record.expired(now) and delete_link(record.id):
            removed.append(record.id)
    return removed
