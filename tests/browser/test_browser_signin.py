"""Sign-in in front of a hosted deployment, against a local OIDC provider on 127.0.0.1.

The app is started exactly as the container's command starts it (the Dockerfile's CMD and
ENV, with the volume's folders in a temporary one and a free port on loopback); its sign-in
secrets come from a temporary HOME (``~/.streamlit/secrets.toml``), so sign-in never stands in
front of the other browser tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.test_deploy import container, wait_for

from .harness import SHOTS, free_port, no_traceback, settle

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "pm@acme.example"
OUTSIDER = "eve@elsewhere.example"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    exe = shutil.which("oidc-provider-mock")
    if exe is None:
        pytest.skip("oidc-provider-mock is not installed (requirements-dev.txt)")
    port = free_port()
    users = [
        {"sub": "pm", "email": ALLOWED, "email_verified": True},
        {"sub": "eve", "email": OUTSIDER, "email_verified": True},
    ]
    args = [exe, "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        args += ["--user-claims", json.dumps(user)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/.well-known/openid-configuration", proc, "the OIDC provider")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def hosted(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    data = tmp_path_factory.mktemp("volume")
    port = free_port()
    app = f"http://127.0.0.1:{port}"
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{app}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-of-some-length"\n'
        'client_id = "tracing-app"\n'
        'client_secret = "tracing-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    extra = {"HOME": str(home), "TRACING_ALLOWED_EMAILS": ALLOWED}
    with container(data, extra, port=port):
        yield app


LINK = {
    "baseline": "demo_data/fraud_training.parquet",
    "production": "demo_data/fraud_production.parquet",
    "metric": "recall",
    "slice": "merchant_id=scammeds.com",
}


@pytest.fixture
def fresh(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def _sign_in(page: Page, user: str) -> None:
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=user, exact=True).click()  # the provider's page


def test_a_link_shows_only_sign_in_then_opens_for_an_allowed_user(
    hosted: str, fresh: Page
) -> None:
    link = f"{hosted}/slices?{urlencode(LINK)}"
    fresh.goto(link)
    settle(fresh)
    expect(fresh.get_by_role("button", name="Sign in")).to_be_visible()
    text = fresh.locator('[data-testid="stApp"]').inner_text()
    for secret in ("fraud", "scammeds", "Comparing", "Overview", "recall"):
        assert secret not in text, secret
    SHOTS.mkdir(parents=True, exist_ok=True)
    fresh.screenshot(path=str(SHOTS / "signin_page.png"))

    _sign_in(fresh, "pm")
    # Back from the provider on the app's root, then on to the link, parameters intact.
    fresh.wait_for_url(lambda url: urlsplit(url).path == "/slices", timeout=60_000)
    settle(fresh)
    no_traceback(fresh)
    query = {k: v[0] for k, v in parse_qs(urlsplit(fresh.url).query).items()}
    assert {k: query.get(k) for k in LINK} == LINK
    expect(fresh.get_by_text(f"Signed in as {ALLOWED}")).to_be_visible()
    expect(fresh.get_by_text("merchant_id = scammeds.com").first).to_be_visible()
    fresh.screenshot(path=str(SHOTS / "signin_landed.png"))

    fresh.get_by_role("button", name="Sign out").click()
    # Streamlit ends the provider's session too (RP-initiated logout): confirm it there.
    fresh.get_by_role("button", name="End session").click()
    expect(fresh.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    fresh.goto(link)
    settle(fresh)
    expect(fresh.get_by_role("button", name="Sign in")).to_be_visible()
    assert "scammeds" not in fresh.locator('[data-testid="stApp"]').inner_text()


def test_a_user_outside_the_allow_list_sees_no_data(hosted: str, fresh: Page) -> None:
    fresh.goto(f"{hosted}/?{urlencode(LINK)}")
    settle(fresh)
    _sign_in(fresh, "eve")
    expect(fresh.get_by_text("not on this deployment's list")).to_be_visible(timeout=60_000)
    settle(fresh)
    text = fresh.locator('[data-testid="stApp"]').inner_text()
    for secret in ("fraud", "scammeds", "Comparing", "Recall"):
        assert secret not in text, secret
    fresh.screenshot(path=str(SHOTS / "signin_refused.png"))
