"""The engine stays UI-free: nothing under tracing/ imports streamlit (also a ruff rule)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_in_tracing_imports_streamlit():
    offenders = []
    for path in (ROOT / "tracing").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_importing_the_engine_does_not_load_streamlit():
    code = "import sys, tracing, tracing.cli, tracing.report; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_ruff_bans_streamlit_in_the_engine():
    config = tomllib.loads((ROOT / "tracing" / "ruff.toml").read_text())
    banned = config["lint"]["flake8-tidy-imports"]["banned-api"]
    assert "streamlit" in banned
