"""Where the app may read data from: allowed folders, opt-in URLs, and the dataset store.

A shared link names its data by reference (a URL query parameter), so the server must decide
what a reference may point at. This module owns that decision and nothing else:

- **Dataset ids** (``ds-<32 hex>.<suffix>``) name uploads kept in the dataset store, a folder
  set by ``TRACING_STORE_DIR`` (default ``./dataset_store``, relative to the server's working
  directory). Uploads are stored under an id derived from their content and a server-side
  secret, so the same file always gets the same id and links stay stable, yet nobody can derive
  or enumerate an id without the secret. The store itself (upload records, verification,
  quota, retention, pins) is `tracing.store`; this module re-exports what callers use.
- **Paths** are allowed only inside the folders listed in ``TRACING_DATA_ROOTS`` (separated by
  ``os.pathsep``; default: the bundled ``demo_data`` folder and the dataset store). Paths are
  resolved with symlinks first, so ``../`` tricks and symlinks that leave a root are refused.
  Relative paths are resolved against the server's working directory. Only table files
  (CSV/Parquet suffixes) are served, and no hidden file or folder.
- **URLs** (``http``/``https``) only when ``TRACING_ALLOW_URLS=1``, capped at
  ``TRACING_MAX_URL_MB`` megabytes (default 1024, the upload limit) of decoded body, within
  ``TRACING_URL_TIMEOUT_S`` seconds overall, and never to the server's own network (loopback,
  private, link-local... addresses, checked on every redirect) unless the operator lists the
  host in ``TRACING_URL_ALLOW_HOSTS`` (see `tracing.fetch`).

`resolve_source` turns any reference into ``(display name, bytes)``; `store_upload` keeps an
upload and returns its id. Every refusal is a `DataError` that says what to do instead.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tracing import settings
from tracing.errors import DataError
from tracing.fetch import FetchLimits, fetch_url
from tracing.store import (
    ANONYMOUS,
    ENV_STORE_DIR,
    ENV_STORE_SECRET,
    dataset_id,
    dataset_name,
    is_dataset_id,
    read_dataset,
    store_dir,
    store_upload,
    table_suffix,
)

__all__ = [
    "ENV_ALLOW_URLS",
    "ENV_DATA_ROOTS",
    "ENV_MAX_URL_MB",
    "ENV_STORE_DIR",
    "ENV_STORE_SECRET",
    "ENV_URL_ALLOW_HOSTS",
    "ENV_URL_TIMEOUT_S",
    "DEMO_DIR",
    "Source",
    "allowed_path",
    "data_roots",
    "dataset_id",
    "describe_source",
    "is_dataset_id",
    "resolve_source",
    "source_stamp",
    "store_dir",
    "store_upload",
    "url_limits",
]

log = logging.getLogger(__name__)
ENV_DATA_ROOTS = "TRACING_DATA_ROOTS"
ENV_ALLOW_URLS = "TRACING_ALLOW_URLS"
ENV_MAX_URL_MB = "TRACING_MAX_URL_MB"
ENV_URL_TIMEOUT_S = "TRACING_URL_TIMEOUT_S"
ENV_URL_ALLOW_HOSTS = "TRACING_URL_ALLOW_HOSTS"

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo_data"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Source:
    """What a reference points at, without reading it.

    Attributes
    ----------
    ref : str
        The reference as given (dataset id, path or URL).
    kind : {"dataset", "path", "url"}
        Which of the three it is.
    name : str
        Display name: the original upload name, the file name, or the URL's last segment.
    location : str
        The stored file, the resolved path, or the URL.
    """

    ref: str
    kind: str
    name: str
    location: str


def data_roots() -> tuple[Path, ...]:
    """Return the folders paths may point into, resolved (symlinks followed).

    ``TRACING_DATA_ROOTS`` (``os.pathsep``-separated) when set, else the bundled demo folder and
    the dataset store.
    """
    raw = settings.get(ENV_DATA_ROOTS)
    if raw:
        parts = [p for p in raw.split(os.pathsep) if p.strip()]
        return tuple(Path(p.strip()).expanduser().resolve() for p in parts)
    return (DEMO_DIR.resolve(), store_dir())


def describe_source(ref: str, *, uploader: str = ANONYMOUS) -> Source:
    """Check a reference against the rules and say what it points at, without reading it.

    Parameters
    ----------
    ref : str
        A dataset id, a path (absolute, or relative to the server's working directory) or an
        ``http``/``https`` URL.
    uploader : str, optional
        Whose upload record names a dataset (`tracing.store.dataset_name`); default
        ``"anonymous"``. Without a record of theirs the name is the id.

    Returns
    -------
    Source

    Raises
    ------
    DataError
        If the reference is refused or points at nothing; the message says why and what to do.
    """
    ref = ref.strip()
    if not ref:
        raise DataError("no dataset given; upload a file, pick a demo or enter a path.")
    if is_dataset_id(ref):
        return _describe_dataset(ref, uploader)
    scheme = urllib.parse.urlsplit(ref).scheme.lower()
    if scheme in ("http", "https"):
        return _describe_url(ref)
    if scheme and len(scheme) > 1:  # "C:" on Windows is a drive letter, not a scheme
        raise DataError(
            f"{ref}: {scheme}:// references are not supported; use a path under an allowed "
            "folder, an http(s) URL (when enabled), or upload the file."
        )
    return _describe_path(ref)


def _describe_dataset(ref: str, uploader: str) -> Source:
    path = store_dir() / ref
    if not path.is_file():
        raise DataError(
            f"dataset {ref} is not in this server's dataset store (it may have been deleted or "
            "the link comes from another server); upload the file again."
        )
    name = dataset_name(ref, uploader=uploader)
    return Source(ref=ref, kind="dataset", name=name, location=str(path))


def _describe_url(ref: str) -> Source:
    if not settings.get(ENV_ALLOW_URLS):
        raise DataError(
            f"{ref}: reading URLs is disabled on this server; download the file and upload it, "
            f"or ask the operator to set {ENV_ALLOW_URLS}=1."
        )
    name = Path(urllib.parse.urlsplit(ref).path).name or ref
    return Source(ref=ref, kind="url", name=name, location=ref)


def _describe_path(ref: str) -> Source:
    return _usable(ref, _vet_path)


def allowed_path(ref: str, *, roots: Sequence[Path] | None = None) -> Path:
    """Resolve a local path (file or folder) and check it lies inside an allowed data folder.

    The same vetting as a path given to `describe_source`, without its file checks: the path
    is resolved with symlinks first, and must lie inside a root and name no hidden file or
    folder. It need not exist. For `tracing.storage`, which lists Parquet folders and globs.

    Parameters
    ----------
    ref : str
        A path, absolute or relative to the working directory.
    roots : sequence of Path, optional
        The allowed folders, resolved (default `data_roots`).

    Returns
    -------
    Path
        The resolved path.

    Raises
    ------
    DataError
        Outside every root, hidden, or not a usable path.
    """
    return _usable(ref, lambda r: _inside_roots(r, data_roots() if roots is None else roots))


def _usable(ref: str, vet: Callable[[str], _T]) -> _T:
    try:
        return vet(ref)
    except (OSError, RuntimeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        # A symlink loop (RuntimeError), a name too long (OSError), a NUL byte (ValueError):
        # the user's path is unusable, which is bad input, never a crash.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise DataError(f"{_short(ref)}: not a usable path ({reason}); check the path.") from exc


def _short(ref: str, limit: int = 120) -> str:
    """Quote a reference in a message, cut when it is absurdly long."""
    return ref if len(ref) <= limit else ref[:limit] + "…"


def _unavailable(ref: str) -> DataError:
    # A visitor learns nothing about the server's disk: a file outside the roots and a file
    # that does not exist get the same message, which names no folder (the log has the
    # details), and a name's type is checked before whether it exists.
    return DataError(
        f"{_short(ref)}: file not found, or not inside an allowed data folder; upload the "
        f"file instead, or ask the operator to add its folder to {ENV_DATA_ROOTS}."
    )


def _inside_roots(ref: str, roots: Sequence[Path]) -> Path:
    candidate = Path(ref).expanduser()
    if not candidate.is_absolute():
        candidate = Path.cwd() / candidate
    # resolve() follows symlinks and removes "..", so the check below sees the real target.
    resolved = candidate.resolve()
    root = next((r for r in roots if resolved.is_relative_to(r)), None)
    if root is None:
        log.info("refused %r: %s is outside the data roots %s", ref, resolved, roots)
        raise _unavailable(ref)
    if any(part.startswith(".") for part in resolved.relative_to(root).parts):
        raise DataError(
            f"{_short(ref)}: hidden files and folders are not served; use a visible file."
        )
    return resolved


def _vet_path(ref: str) -> Source:
    resolved = _inside_roots(ref, data_roots())
    if "." in resolved.name:
        table_suffix(resolved.name)  # "unsupported file type" whether or not it exists
    if not resolved.is_file():
        log.info("refused %r: %s is not a file", ref, resolved)
        raise _unavailable(ref)
    table_suffix(resolved.name)
    return Source(ref=ref, kind="path", name=resolved.name, location=str(resolved))


def source_stamp(ref: str) -> str:
    """Return a string that changes when the data behind ``ref`` changes (for cache keys).

    Dataset ids are content-addressed (constant); paths use size and modification time; URLs
    have no cheap stamp (empty string).

    Parameters
    ----------
    ref : str
        A reference accepted by `describe_source`.

    Returns
    -------
    str
    """
    source = describe_source(ref)
    if source.kind != "path":
        return ""
    stat = Path(source.location).stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def resolve_source(ref: str, *, uploader: str = ANONYMOUS) -> tuple[str, bytes]:
    """Read the data behind a dataset id, an allowed path or an allowed URL.

    Parameters
    ----------
    ref : str
        See `describe_source`.
    uploader : str, optional
        See `describe_source`.

    Returns
    -------
    (name, data) : tuple of (str, bytes)
        The display name (original upload name or file name) and the file's bytes.

    Raises
    ------
    DataError
        If the reference is refused, missing, unreadable, (datasets) damaged, or (URLs)
        larger than the cap.

    Examples
    --------
    >>> name, data = resolve_source(str(DEMO_DIR / "fraud_training.parquet"))
    >>> name, data[:4]
    ('fraud_training.parquet', b'PAR1')
    """
    source = describe_source(ref, uploader=uploader)
    if source.kind == "url":
        return source.name, _fetch(source.location)
    if source.kind == "dataset":
        return source.name, read_dataset(ref)
    try:
        return source.name, Path(source.location).read_bytes()
    except OSError as exc:
        raise DataError(f"{ref}: could not be read ({exc.strerror}); check the file.") from exc


def _url_cap() -> int:
    return int(settings.get(ENV_MAX_URL_MB) * 1024 * 1024)


def url_limits() -> FetchLimits:
    """Return the bounds of a visitor's URL download, from the settings.

    ``TRACING_MAX_URL_MB`` (decoded body), ``TRACING_URL_TIMEOUT_S`` (overall deadline) and
    ``TRACING_URL_ALLOW_HOSTS`` (internal hosts permitted on purpose).
    """
    return FetchLimits(
        max_bytes=_url_cap(),
        deadline_s=float(settings.get(ENV_URL_TIMEOUT_S)),
        allow=tuple(settings.get(ENV_URL_ALLOW_HOSTS)),
        setting_bytes=ENV_MAX_URL_MB,
        setting_allow=ENV_URL_ALLOW_HOSTS,
    )


def _fetch(url: str) -> bytes:
    # Internal addresses, redirects, deadline, decoded-size cap: see tracing.fetch.
    return fetch_url(url, url_limits())
