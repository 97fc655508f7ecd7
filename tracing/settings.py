"""Every environment variable the app and the CLI read: name, default, parser and meaning.

This module is the single home of server settings. Code never calls ``os.environ`` for a
``TRACING_*`` variable itself: it asks `get` for the parsed value, so each setting is parsed and
checked in one place, a bad value is a `tracing.errors.DataError` that names the variable and
what it accepts, and the README's configuration table is generated from `SETTINGS`
(`markdown_table`; a test keeps the two equal).

Examples
--------
>>> get("TRACING_ALLOW_URLS", environ={"TRACING_ALLOW_URLS": "1"})
True
>>> get("TRACING_MAX_URL_MB", environ={})
1024.0
>>> get("TRACING_ENGINE", environ={})
'auto'
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracing.errors import DataError

__all__ = [
    "OBJECT_SCHEMES",
    "SETTINGS",
    "Setting",
    "get",
    "is_set",
    "markdown_table",
    "problems",
    "raw",
    "split_object_uri",
]


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("use 1 (on) or 0 (off)")


def _positive_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("use a finite number above 0")
    return value


def _text(text: str) -> str:
    return text.strip()


def _optional_positive_number(text: str) -> float | None:
    """Parse a finite number above 0, or ``""``/``0`` for "no limit" (``None``)."""
    if text.strip() in ("", "0"):
        return None
    return _positive_number(text)


def _positive_int(text: str) -> int:
    value = int(text.strip().replace("_", ""))
    if value <= 0:
        raise ValueError("use a whole number above 0")
    return value


def _optional_positive_int(text: str) -> int | None:
    if text.strip() in ("", "0"):
        return None
    return _positive_int(text)


def _allow_list(text: str) -> Any:
    """Parse ``TRACING_ALLOWED_EMAILS`` into a `tracing.access.AllowList`."""
    from tracing.access import AllowList

    return AllowList.parse(text)


def _host_list(text: str) -> tuple[str, ...]:
    """Parse ``TRACING_URL_ALLOW_HOSTS``: comma-separated host names, IP addresses or CIDRs."""
    import ipaddress

    items: list[str] = []
    for part in text.split(","):
        item = part.strip().lower().strip("[]")
        if not item:
            continue
        if "/" in item or item.replace(".", "").isdigit() or ":" in item:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not an IP address or CIDR") from None
        elif not all(c.isalnum() or c in "-._" for c in item):
            raise ValueError(f"{part.strip()!r} is not a host name")
        items.append(item)
    return tuple(items)


def _public_url(text: str) -> str | None:
    """Parse ``TRACING_PUBLIC_URL``: the app's address as others reach it (``None``: unset).

    An ``http(s)`` URL with a host and no query or fragment; the result ends with ``/`` so
    page paths can be appended.

    Examples
    --------
    >>> _public_url("https://tracing.example.org/apps/tracing")
    'https://tracing.example.org/apps/tracing/'
    >>> _public_url("") is None
    True
    >>> _public_url("tracing.example.org")
    Traceback (most recent call last):
    ...
    ValueError: use an http:// or https:// URL with a host, e.g. https://tracing.example.org/
    """
    from urllib.parse import urlsplit

    text = text.strip()
    if not text:
        return None
    hint = "e.g. https://tracing.example.org/"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"not a URL; use an http:// or https:// URL, {hint}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"use an http:// or https:// URL with a host, {hint}")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("leave out the query (?...) and the fragment (#...)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("leave out the user name and password: links are shared")
    if any(c.isspace() for c in text):
        raise ValueError("a URL has no spaces")
    return text if text.endswith("/") else text + "/"


def _engine(text: str) -> Any:
    """Parse ``TRACING_ENGINE`` into a `tracing.vocab.EngineName`."""
    from tracing.vocab import EngineName

    try:
        return EngineName(text.strip().lower())
    except ValueError:
        raise ValueError(f"use one of {', '.join(EngineName)}") from None


_MEMORY_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(%|B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.I)


def _memory_limit(text: str) -> str:
    """Parse ``TRACING_DUCKDB_MEMORY_LIMIT``: an amount DuckDB's ``memory_limit`` accepts.

    Examples
    --------
    >>> _memory_limit(" 3 gb "), _memory_limit("70%"), _memory_limit("1.5GiB")
    ('3GB', '70%', '1.5GiB')
    >>> _memory_limit("0%")
    Traceback (most recent call last):
    ...
    ValueError: use an amount with a unit (e.g. 3GB, 2GiB) or a share (e.g. 70%), above 0
    """
    found = _MEMORY_LIMIT.fullmatch(text.strip())
    hint = "use an amount with a unit (e.g. 3GB, 2GiB) or a share (e.g. 70%)"
    if found is None:
        raise ValueError(hint)
    number, unit = found.groups()
    value = float(number)
    if value <= 0:
        raise ValueError(f"{hint}, above 0")
    if unit == "%" and value > 100:
        raise ValueError(f"{hint}, at most 100%")
    unit = unit if unit == "%" else unit.upper().replace("I", "i")
    return f"{number}{unit}"


def _spill_dir(text: str) -> Path:
    """Parse ``TRACING_DUCKDB_TEMP_DIR`` into an absolute folder (default under the temp dir)."""
    text = text.strip()
    if not text:
        return Path(tempfile.gettempdir()).resolve() / "tracing-duckdb-spill"
    return Path(text).expanduser().resolve()


def _outside_store(value: Any, environ: Mapping[str, str]) -> None:
    """Refuse a spill folder inside the dataset store: spilled rows are no upload."""
    store = Path(raw("TRACING_STORE_DIR", environ=environ)).expanduser().resolve()
    if Path(value).is_relative_to(store) or store.is_relative_to(Path(value)):
        raise ValueError(
            f"use a folder apart from the dataset store ({store}, TRACING_STORE_DIR): the "
            "store's quota and sweeps must not see DuckDB's spill files"
        )


OBJECT_SCHEMES = ("s3", "gs")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def split_object_uri(text: str) -> tuple[str, str, str]:
    """Split an ``s3://`` or ``gs://`` URI into ``(scheme, bucket, key)``, or refuse it.

    One reading of object-storage URIs for `TRACING_DATA_URIS` and for the URIs users name
    (`tracing.storage`), so a prefix and a URI are compared the same way. The key keeps a
    trailing ``/``. Refused: other schemes, credentials, ports, queries and fragments (a
    query could redirect the client, e.g. ``?endpoint_override=``), ``.``/``..`` and empty
    path segments.

    Examples
    --------
    >>> split_object_uri("S3://logs-bucket/logs/day=1/")
    ('s3', 'logs-bucket', 'logs/day=1/')
    >>> split_object_uri("s3://logs-bucket/a/../b")
    Traceback (most recent call last):
    ...
    ValueError: no '.', '..' or empty folder names in the path
    """
    from urllib.parse import urlsplit

    text = text.strip()
    head, sep, rest = text.partition("://")
    scheme = head.lower()
    if not sep or scheme not in OBJECT_SCHEMES:
        raise ValueError("use s3://bucket/prefix/ or gs://bucket/prefix/")
    if "?" in rest or "#" in rest:
        raise ValueError("leave out the query (?...) and the fragment (#...)")
    try:
        parts = urlsplit(f"{scheme}://{rest}")
    except ValueError:
        raise ValueError("not a URI; use s3://bucket/prefix/ or gs://bucket/prefix/") from None
    bucket = parts.netloc
    if "@" in bucket or ":" in bucket:
        raise ValueError("leave out credentials and ports: they come from the environment")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError("a bucket name has lower-case letters, digits, '.', '-' and '_'")
    key = parts.path.removeprefix("/")
    segments = key.split("/")
    if any(seg in ("", ".", "..") for seg in segments[:-1]) or segments[-1] in (".", ".."):
        raise ValueError("no '.', '..' or empty folder names in the path")
    if any(c.isspace() and c != " " for c in key):
        raise ValueError("no tabs or line breaks in the path")
    return scheme, bucket, key


def _uri_prefixes(text: str) -> tuple[str, ...]:
    """Parse ``TRACING_DATA_URIS``: comma-separated ``s3://`` or ``gs://`` prefixes.

    A prefix names a folder: it ends with ``/``, so ``s3://b/logs`` allows ``s3://b/logs/x``
    but not ``s3://b/logs2/x``.

    Examples
    --------
    >>> _uri_prefixes("s3://logs-bucket/logs, gs://ml-logs/, S3://logs-bucket/logs/")
    ('s3://logs-bucket/logs/', 'gs://ml-logs/')
    """
    items: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            scheme, bucket, key = split_object_uri(part)
        except ValueError as exc:
            raise ValueError(f"{part.strip()!r}: {exc}") from None
        if any(c in key for c in "*?["):
            raise ValueError(f"{part.strip()!r}: a prefix is a folder, not a pattern")
        key = key if not key or key.endswith("/") else key + "/"
        items.append(f"{scheme}://{bucket}/{key}")
    return tuple(dict.fromkeys(items))


# Session settings the spark engine sets itself: its answers depend on them.
SPARK_FIXED = ("spark.sql.ansi.enabled", "spark.sql.session.timeZone")


def _spark_conf(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``TRACING_SPARK_CONF``: comma-separated ``spark.key=value`` session settings.

    Examples
    --------
    >>> _spark_conf("spark.sql.shuffle.partitions=64, spark.sql.adaptive.enabled=false")
    (('spark.sql.shuffle.partitions', '64'), ('spark.sql.adaptive.enabled', 'false'))
    """
    items: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = (t.strip() for t in part.partition("="))
        if not sep or not key.startswith("spark.") or not value:
            raise ValueError(f"{part.strip()!r}: use spark.<key>=<value>")
        if key in SPARK_FIXED:
            raise ValueError(f"{key} is set by the engine (its answers depend on it)")
        items[key] = value
    return tuple(items.items())


@dataclass(frozen=True)
class Setting:
    """One environment variable.

    Attributes
    ----------
    name : str
        The variable, e.g. ``TRACING_STORE_DIR``.
    default : str
        The value used when the variable is unset or empty, as text (parsed like a set value);
        ``""`` means "none", and ``default_text`` then says what happens.
    parse : callable
        Text to value; raises ``ValueError`` with what the setting accepts.
    meaning : str
        One line for the README table.
    default_text : str, optional
        How the README shows the default, when the raw default says little.
    check : callable, optional
        ``check(value, environ)`` compares the parsed value with other settings; raises
        ``ValueError`` with what the setting accepts.
    """

    name: str
    default: str
    parse: Callable[[str], Any]
    meaning: str
    default_text: str = ""
    check: Callable[[Any, Mapping[str, str]], None] | None = None

    def shown_default(self) -> str:
        """Return the default as the README shows it."""
        if self.default_text:
            return self.default_text
        return f"`{self.default}`" if self.default else "unset"


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "TRACING_DATA_ROOTS",
            "",
            _text,
            "folders whose files the app may read, separated by `:` (`os.pathsep`); paths are "
            "resolved with symlinks, so `../` and symlinks out of a root are refused",
            default_text="the bundled `demo_data/` folder and the dataset store",
        ),
        Setting(
            "TRACING_STORE_DIR",
            "dataset_store",
            _text,
            "where uploads are kept",
            default_text="`./dataset_store`",
        ),
        Setting(
            "TRACING_STORE_SECRET",
            "",
            _text,
            "key of the dataset ids (set it to share one store between servers)",
            default_text="a random secret created in the store",
        ),
        Setting(
            "TRACING_PUBLIC_URL",
            "",
            _public_url,
            "the app's address as the people you share links with reach it (scheme, host and "
            "base path, e.g. `https://tracing.example.org/`); share links and the deep links "
            "of alert messages start with it",
            default_text="the address the link's creator opened the app with (alerts: "
            "`--app-url`)",
        ),
        Setting(
            "TRACING_ALLOW_URLS",
            "0",
            _flag,
            "`1` lets the app read `http(s)` URLs",
            default_text="off",
        ),
        Setting(
            "TRACING_MAX_URL_MB",
            "1024",
            _positive_number,
            "size cap of a URL download (the decoded body, counted while downloading), in "
            "megabytes",
        ),
        Setting(
            "TRACING_URL_TIMEOUT_S",
            "30",
            _positive_number,
            "overall deadline of a URL download (connect, redirects and body), in seconds",
        ),
        Setting(
            "TRACING_URL_ALLOW_HOSTS",
            "",
            _host_list,
            "comma-separated host names, IP addresses or CIDRs that URLs may reach although they "
            "are loopback, private or otherwise internal (e.g. `minio.internal,10.0.0.0/8`)",
            default_text="none: internal addresses are refused",
        ),
        Setting(
            "TRACING_MAX_DECOMPRESSED_MB",
            "2048",
            _optional_positive_number,
            "cap on the bytes a visitor's file may expand to when read (after gzip), in "
            "megabytes; the CLI applies it only when set; `0` means no cap",
        ),
        Setting(
            "TRACING_MAX_CELLS",
            "200000000",
            _optional_positive_int,
            "cap on rows × columns of a visitor's file; the CLI applies it only when set; `0` "
            "means no cap",
        ),
        Setting(
            "TRACING_MAX_COLUMNS",
            "2000",
            _optional_positive_int,
            "cap on the columns of a visitor's file (a full report at 2,000 columns takes about "
            "9 s, at 10,000 about 80 s: `bench/wide.py`); the CLI applies it only when set; `0` "
            "means no cap",
        ),
        Setting(
            "TRACING_STORE_QUOTA_MB",
            "10240",
            _optional_positive_number,
            "total size of the dataset store's files; an upload beyond it first sweeps expired "
            "uploads, then is refused; `0` means no quota",
        ),
        Setting(
            "TRACING_STORE_RETENTION_DAYS",
            "90",
            _optional_positive_number,
            "uploads not uploaded again for this many days are removed by a sweep, unless pinned "
            "(e.g. by a share link); `0` keeps them forever",
        ),
        Setting(
            "TRACING_PAGERDUTY_KEY",
            "",
            _text,
            "routing key of a PagerDuty Events API v2 integration, for "
            "`timeline --notify-format pagerduty`",
            default_text="none",
        ),
        Setting(
            "TRACING_ALLOWED_EMAILS",
            "",
            _allow_list,
            "with sign-in configured: who may enter, comma-separated addresses "
            "(`pm@acme.example`) and domains (`@acme.example`), or `*` for everyone the identity "
            "provider signs in; only verified emails count when the provider says",
            default_text="nobody",
        ),
        Setting(
            "TRACING_ALLOW_ANONYMOUS",
            "0",
            _flag,
            "`1` lets the app serve without sign-in on an address other than loopback (anyone who "
            "reaches it can read every allowed file)",
            default_text="off",
        ),
        Setting(
            "TRACING_LINK_DAYS",
            "",
            _optional_positive_number,
            "share links stop opening after this many days; empty or `0`: never",
            default_text="never",
        ),
        Setting(
            "TRACING_MAX_CONCURRENT",
            "2",
            _positive_int,
            "heavy steps (reading an upload, slice search, SHAP) that run at once; the others "
            "wait in a visible queue",
        ),
        Setting(
            "TRACING_CACHE_MB",
            "2048",
            _positive_number,
            "memory the app's in-process caches may hold (loaded tables, analyses, results), in "
            "megabytes, estimated from the objects' bytes; least recently used entries go first",
        ),
        Setting(
            "TRACING_ENGINE",
            "auto",
            _engine,
            "the engine of the app's analyses and the CLI's default `--engine`: `memory` "
            "(in this process), `duckdb` (embedded, out-of-core), `spark` (a local session, or "
            "Spark Connect when `SPARK_REMOTE` is set) or `auto` (memory when the data fits "
            "comfortably, else duckdb: `tracing/engines.py`)",
        ),
        Setting(
            "TRACING_DUCKDB_MEMORY_LIMIT",
            "3GB",
            _memory_limit,
            "DuckDB's `memory_limit`: an amount (`3GB`, `500MB`, `2GiB`) or a share of the "
            "machine's memory (`70%`); beyond it DuckDB spills to `TRACING_DUCKDB_TEMP_DIR`. "
            "The default keeps a large report's peak under 4 GB; DuckDB's own default is 80%",
        ),
        Setting(
            "TRACING_DUCKDB_TEMP_DIR",
            "",
            _spill_dir,
            "where DuckDB spills what exceeds its memory limit; must lie outside the dataset "
            "store",
            default_text="`tracing-duckdb-spill` in the system's temporary folder",
            check=_outside_store,
        ),
        Setting(
            "TRACING_SPARK_CONF",
            "",
            _spark_conf,
            "comma-separated Spark SQL settings for the spark engine's sessions "
            "(`spark.sql.shuffle.partitions=200,spark.sql.adaptive.enabled=true`); the engine "
            "keeps ANSI mode and the UTC session time zone, which its answers depend on",
            default_text="none (4 shuffle partitions)",
        ),
        Setting(
            "TRACING_DATA_URIS",
            "",
            _uri_prefixes,
            "comma-separated object-storage prefixes the duckdb and spark engines may read "
            "Parquet from (`s3://bucket/logs/,gs://bucket/`); credentials and endpoint come from "
            "the standard environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`..., "
            "`GOOGLE_APPLICATION_CREDENTIALS`)",
            default_text="none: no object storage",
        ),
        Setting(
            "TRACING_DEBUG",
            "0",
            _flag,
            "`1` makes the CLI re-raise an internal error with its traceback",
            default_text="off",
        ),
    )
}


def raw(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    """Return a setting's text: the environment's non-empty value, else its default."""
    setting = SETTINGS[name]
    env = os.environ if environ is None else environ
    value = env.get(name, "")
    return value if value.strip() else setting.default


def is_set(name: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the variable is set to a non-empty value (the CLI applies some caps only then)."""
    SETTINGS[name]  # a KeyError for an unknown name, as `get`
    env = os.environ if environ is None else environ
    return bool(env.get(name, "").strip())


def get(name: str, *, environ: Mapping[str, str] | None = None) -> Any:
    """Return a setting's parsed value.

    Parameters
    ----------
    name : str
        A key of `SETTINGS`.
    environ : mapping, optional
        Where to read (default ``os.environ``); tests pass their own.

    Raises
    ------
    KeyError
        ``name`` is not a known setting (a programming error).
    DataError
        The variable is set to a value its parser refuses; the message names it.
    """
    setting = SETTINGS[name]
    text = raw(name, environ=environ)
    try:
        value = setting.parse(text)
        if setting.check is not None:
            setting.check(value, os.environ if environ is None else environ)
        return value
    except ValueError as exc:
        raise DataError(f"{name}={text!r} is not valid: {exc}; fix or unset it.") from None


def problems(*, environ: Mapping[str, str] | None = None) -> list[str]:
    """Return one message per setting whose value is refused (empty when all are valid).

    For start-up: the app and the CLI can refuse to start with every bad value named at once,
    instead of failing later on the first request that reads it.

    Examples
    --------
    >>> for line in problems(environ={"TRACING_MAX_URL_MB": "inf", "TRACING_MAX_CELLS": "-1"}):
    ...     print(line.split(" is not valid")[0])
    TRACING_MAX_URL_MB='inf'
    TRACING_MAX_CELLS='-1'
    """
    found = []
    for name in SETTINGS:
        try:
            get(name, environ=environ)
        except DataError as exc:
            found.append(str(exc))
    return found


def markdown_table() -> str:
    """Return the README's table of settings (variable, default, meaning)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{s.name}` | {s.shown_default()} | {s.meaning} |" for s in SETTINGS.values()]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m tracing.settings: print the README table
    print(markdown_table())
