"""The deployment recipe: the Dockerfile's steps are the commands tested here, and its command,
run outside a container with the image's environment, serves the health endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)  # join continued lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def _cmd() -> list[str]:
    (cmd,) = [json.loads(rest) for word, rest in _instructions() if word == "CMD"]
    return list(cmd)


def test_the_image_installs_with_the_readme_command() -> None:
    readme = (ROOT / "README.md").read_text()
    install = re.search(r"```bash\n(python -m pip install -r requirements.txt)", readme)
    assert install, "the README's first command changed"
    runs = [rest for word, rest in _instructions() if word == "RUN"]
    assert "python -m pip install --no-cache-dir -r requirements.txt" in runs
    # The same command (with pip's cache off, which changes nothing installed).
    assert install.group(1).replace("install", "install --no-cache-dir") in runs


def test_the_image_is_slim_unprivileged_checked_and_keeps_data_on_a_volume() -> None:
    words = dict(_instructions())
    assert re.fullmatch(r"python:3\.\d+-slim", words["FROM"])
    assert words["USER"] not in ("root", "0")
    assert "/_stcore/health" in words["HEALTHCHECK"]
    assert json.loads(words["VOLUME"]) == ["/data"]
    env = _env()
    assert env["TRACING_STORE_DIR"].startswith("/data/")
    assert env["STREAMLIT_SERVER_HEADLESS"] == "true"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> bytes:
    """Poll ``url`` until it answers 200 (a failed test if ``proc`` exits or time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                assert r.status == 200
                return r.read()
        except OSError:
            assert proc.poll() is None, f"{what} exited"
            assert time.monotonic() < deadline, f"{what} did not answer {url} in {timeout:g} s"
            time.sleep(0.3)


@contextlib.contextmanager
def container(
    volume: Path, extra: dict[str, str] | None = None, *, port: int | None = None
) -> Iterator[str]:
    """Run the image's CMD with its ENV outside a container; yield the app's base URL.

    The volume's folders go under ``volume``, the app's under this checkout, and the app listens
    on ``port`` (default a free one) of 127.0.0.1 (tests only listen on loopback); ``extra``
    adds variables.
    """
    env = _env()
    for key in ("TRACING_STORE_DIR", "TRACING_DATA_ROOTS"):
        env[key] = env[key].replace("/data/", f"{volume}/").replace("/app/", f"{ROOT}/")
    port = port or _free_port()
    env |= {"STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "STREAMLIT_SERVER_PORT": str(port)}
    env |= extra or {}
    cmd = _cmd()
    assert cmd[:2] == ["python", "-m"]
    proc = subprocess.Popen(
        [sys.executable, *cmd[1:]],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/_stcore/health", proc, "the container command")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_container_command_serves_the_health_endpoint(tmp_path: Path) -> None:
    with container(tmp_path) as url, urllib.request.urlopen(f"{url}/_stcore/health") as r:
        assert (r.status, r.read()) == (200, b"ok")


def test_compose_keeps_the_store_on_a_volume_and_the_secrets_out_of_the_image() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    service = compose["services"]["tracing"]
    assert "tracing-data:/data" in service["volumes"]
    assert any(v.endswith(":/app/.streamlit/secrets.toml:ro") for v in service["volumes"])
    assert ".streamlit/secrets.toml" in (ROOT / ".dockerignore").read_text()


def test_kubernetes_routes_sessions_sticky_and_mounts_store_and_secret() -> None:
    docs = {
        d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text())
    }
    assert docs["Service"]["spec"]["sessionAffinity"] == "ClientIP"
    assert docs["PersistentVolumeClaim"]["spec"]["accessModes"]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    secret_env = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert {"TRACING_ALLOWED_EMAILS", "TRACING_STORE_SECRET"} <= secret_env
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/data", "/app/.streamlit/secrets.toml"} <= mounts


@pytest.mark.parametrize("name", ["compose.yaml", "kubernetes.yaml", "secrets.example.toml"])
def test_deploy_files_exist(name: str) -> None:
    assert (ROOT / "deploy" / name).is_file()
