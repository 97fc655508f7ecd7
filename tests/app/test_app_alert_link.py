"""An alert's deep link opens the app on the Overview, tracing the alerting period."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.test_alerts import _days
from tracing.cli import main


def _receive(bodies: list[dict]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def test_the_alert_link_traces_the_alerting_day(app, no_errors, data_dir: Path) -> None:
    _days("2026-09-01", 30, seed=1, bad_last=False).to_parquet(data_dir / "base.parquet")
    _days("2026-11-01", 10, seed=2, bad_last=True).to_parquet(data_dir / "prod.parquet")
    bodies: list[dict] = []
    server, url = _receive(bodies)
    try:
        code = main([
            "timeline", "--production", str(data_dir / "prod.parquet"),
            "--baseline", str(data_dir / "base.parquet"), "--metric", "accuracy",
            "--freq", "day", "--notify", url, "--app-url", "http://127.0.0.1:8501",
            "--state", str(data_dir / "state.json"), "--output", str(data_dir / "out.json"),
        ])  # fmt: skip
    finally:
        server.shutdown()
    assert code == 0 and len(bodies) == 1
    link = urlsplit(bodies[0]["alert"]["link"])
    assert link.path == "/"
    params = {k: v[0] for k, v in parse_qs(link.query).items()}
    at = app(None, **params)
    no_errors(at)
    assert at.query_params["production_window"] == params["production_window"]
    banner = " ".join(m.value for m in at.markdown)
    assert "Tracing **2026-11-10 00:00 to 2026-11-11 00:00**" in banner, banner[:500]
