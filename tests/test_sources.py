"""Allowed sources: every refusal, the dataset store round trip, and opt-in URLs."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracing import sources
from tracing.errors import DataError
from tracing.io import read_table

CSV = b"id,pred,label,state\n1,1,1,CA\n2,0,0,NY\n3,1,0,CA\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A data root with one table, a store, and a file outside both; cwd inside the root."""
    root = tmp_path / "root"
    store = tmp_path / "store"
    outside = tmp_path / "outside"
    for folder in (root, store, outside):
        folder.mkdir()
    (root / "preds.csv").write_bytes(CSV)
    (outside / "secret.csv").write_bytes(b"password,1\n")
    monkeypatch.setenv(sources.ENV_STORE_DIR, str(store))
    monkeypatch.setenv(sources.ENV_DATA_ROOTS, os.pathsep.join([str(root), str(store)]))
    monkeypatch.delenv(sources.ENV_ALLOW_URLS, raising=False)
    monkeypatch.delenv(sources.ENV_MAX_URL_MB, raising=False)
    monkeypatch.delenv(sources.ENV_STORE_SECRET, raising=False)
    monkeypatch.chdir(root)
    return {"root": root, "store": store, "outside": outside}


def refused(ref: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        sources.resolve_source(ref)


# --- paths -------------------------------------------------------------------------------------


def test_path_inside_root_is_read(env: dict[str, Path]) -> None:
    assert sources.resolve_source(str(env["root"] / "preds.csv")) == ("preds.csv", CSV)
    assert sources.resolve_source("preds.csv") == ("preds.csv", CSV)  # relative to cwd


def test_etc_passwd_is_refused(env: dict[str, Path]) -> None:
    refused("/etc/passwd", "not inside an allowed data folder")


def test_dot_dot_escape_is_refused(env: dict[str, Path]) -> None:
    refused("../outside/secret.csv", "not inside an allowed data folder")
    refused(str(env["root"] / ".." / "outside" / "secret.csv"), "not inside an allowed")
    refused("../../../../../../etc/passwd", "not inside an allowed data folder")


def test_symlink_out_of_root_is_refused(env: dict[str, Path]) -> None:
    (env["root"] / "link.csv").symlink_to(env["outside"] / "secret.csv")
    (env["root"] / "linkdir").symlink_to(env["outside"], target_is_directory=True)
    refused("link.csv", "not inside an allowed data folder")
    refused("linkdir/secret.csv", "not inside an allowed data folder")


def test_symlink_within_root_is_followed(env: dict[str, Path]) -> None:
    (env["root"] / "alias.csv").symlink_to(env["root"] / "preds.csv")
    assert sources.resolve_source("alias.csv") == ("preds.csv", CSV)


def test_refusal_names_the_fix_but_no_server_folder(env: dict[str, Path]) -> None:
    # Issue 11: a visitor must not learn the server's folders from a refusal.
    with pytest.raises(DataError) as err:
        sources.resolve_source("/etc/passwd")
    message = str(err.value)
    assert sources.ENV_DATA_ROOTS in message and "upload the file" in message
    assert str(env["root"]) not in message and str(env["store"]) not in message


def test_missing_and_not_allowed_read_alike(env: dict[str, Path]) -> None:
    def message(ref: str) -> str:
        with pytest.raises(DataError) as err:
            sources.describe_source(ref)
        return str(err.value).removeprefix(ref)

    outside = message(str(env["outside"] / "secret.csv"))  # exists, outside the roots
    assert outside == message(str(env["outside"] / "nothing.csv"))  # does not exist
    assert outside == message(str(env["root"] / "nothing.csv"))  # missing inside a root
    # The type is judged from the name, so it does not tell whether the file exists.
    (env["root"] / "notes.json").write_text("{}")
    assert message("notes.json") == message("other.json")


def test_missing_file_directory_and_wrong_type(env: dict[str, Path]) -> None:
    (env["root"] / "notes.json").write_text("{}")
    (env["root"] / "sub").mkdir()
    refused("nope.csv", "file not found")
    refused("sub", "file not found")
    refused("notes.json", "unsupported file type")


def test_hidden_files_and_the_store_secret_are_refused(env: dict[str, Path]) -> None:
    (env["root"] / ".hidden.csv").write_bytes(CSV)
    refused(".hidden.csv", "hidden")
    sources.store_upload(CSV, "a.csv")  # creates the secret
    assert (env["store"] / ".secret").is_file()
    refused(str(env["store"] / ".secret"), "hidden")


def test_other_schemes_and_empty_refs_are_refused(env: dict[str, Path]) -> None:
    refused("file:///etc/passwd", "not supported")
    refused("ftp://example.com/a.csv", "not supported")
    refused("   ", "no dataset given")


def test_default_roots_are_demo_folder_and_store(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(sources.ENV_DATA_ROOTS)
    assert sources.data_roots() == (sources.DEMO_DIR.resolve(), env["store"].resolve())
    name, data = sources.resolve_source(str(sources.DEMO_DIR / "fraud_training.parquet"))
    assert name == "fraud_training.parquet" and data[:4] == b"PAR1"
    refused(str(env["root"] / "preds.csv"), "not inside an allowed data folder")


def test_stamp_changes_when_the_file_changes(env: dict[str, Path]) -> None:
    before = sources.source_stamp("preds.csv")
    (env["root"] / "preds.csv").write_bytes(CSV + b"4,0,0,TX\n")
    assert sources.source_stamp("preds.csv") != before


# --- dataset store -----------------------------------------------------------------------------


def test_upload_round_trip(env: dict[str, Path]) -> None:
    ref = sources.store_upload(CSV, "my preds.csv")
    assert sources.is_dataset_id(ref) and ref.endswith(".csv")
    assert sources.resolve_source(ref) == ("my preds.csv", CSV)
    assert read_table(sources.resolve_source(ref)[1], name=ref).shape == (3, 4)
    assert sources.describe_source(ref).kind == "dataset"
    assert sources.source_stamp(ref) == ""


def test_same_content_same_id_and_suffix_kept(env: dict[str, Path]) -> None:
    first = sources.store_upload(CSV, "a.csv")
    assert sources.store_upload(CSV, "b.csv") == first
    assert sources.store_upload(CSV + b"4,0,0,TX\n", "a.csv") != first
    assert sources.store_upload(CSV, "a.csv.gz").endswith(".csv.gz")
    assert len(list(env["store"].glob("ds-*.csv"))) == 2


def test_id_is_not_derivable_from_content_alone(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = sources.store_upload(CSV, "a.csv")
    assert hashlib.sha256(CSV).hexdigest()[:32] not in ref
    monkeypatch.setenv(sources.ENV_STORE_SECRET, "another server")
    assert sources.dataset_id(CSV, "a.csv") != ref


def test_unknown_or_malformed_ids(env: dict[str, Path]) -> None:
    refused("ds-" + "0" * 32 + ".csv", "not in this server's dataset store")
    # Not an id (wrong length / traversal): handled as a path and refused.
    refused("ds-../../../../../../../etc/passwd", "not inside an allowed data folder")
    assert not sources.is_dataset_id("ds-" + "0" * 32 + ".csv/../../x")


def test_upload_rejects_wrong_type_and_empty(env: dict[str, Path]) -> None:
    with pytest.raises(DataError, match="unsupported file type"):
        sources.store_upload(CSV, "evil.exe")
    with pytest.raises(DataError, match="empty"):
        sources.store_upload(b"", "a.csv")


# --- URLs --------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/preds.csv":
            self.send_response(200)
            self.send_header("Content-Length", str(len(CSV)))
            self.end_headers()
            self.wfile.write(CSV)
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urls_are_off_by_default(env: dict[str, Path], http_url: str) -> None:
    refused(f"{http_url}/preds.csv", "reading URLs is disabled.*TRACING_ALLOW_URLS=1")


def test_urls_when_enabled(
    env: dict[str, Path], http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sources.ENV_ALLOW_URLS, "1")
    monkeypatch.setenv(sources.ENV_URL_ALLOW_HOSTS, "127.0.0.1")  # the test server
    assert sources.resolve_source(f"{http_url}/preds.csv") == ("preds.csv", CSV)
    refused(f"{http_url}/missing.csv", "answered 404")


def test_url_size_cap(
    env: dict[str, Path], http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sources.ENV_ALLOW_URLS, "1")
    monkeypatch.setenv(sources.ENV_URL_ALLOW_HOSTS, "127.0.0.1")  # the test server
    monkeypatch.setenv(sources.ENV_MAX_URL_MB, str(10 / 2**20))  # 10 bytes
    refused(f"{http_url}/preds.csv", "larger than the")


def test_unreachable_url(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.ENV_ALLOW_URLS, "1")
    monkeypatch.setenv(sources.ENV_URL_ALLOW_HOSTS, "127.0.0.1")  # the test server
    refused("http://127.0.0.1:9/preds.csv", "could not be downloaded")


@pytest.mark.parametrize("kind", ["loop", "long", "nul"])
def test_unusable_paths_are_bad_input_not_crashes(env, kind):
    root = env["root"]
    if kind == "loop":
        (root / "a.csv").symlink_to(root / "b.csv")
        (root / "b.csv").symlink_to(root / "a.csv")
        ref = str(root / "a.csv")
    elif kind == "long":
        ref = str(root / ("x" * 300 + ".csv"))
    else:
        ref = str(root / "bad\x00name.csv")
    with pytest.raises(DataError, match=r"check the path\.$"):
        sources.describe_source(ref)
