"""The sign-in gate: nothing but sign-in for a visitor who is not signed in or not allowed.

The decisions live in `tracing.access` (the allow-list, serving without sign-in); this module
draws them. With an ``[auth]`` section in the secrets (Streamlit's ``st.login``, OIDC) every run
of the app passes `gate` before any page, data, demo or dataset name is drawn.

A shared link survives the sign-in. Streamlit starts a new session after the identity
provider's redirect and lands on the app's root (streamlit#10162), so the sign-in page keeps
the link's path and query in the browser's ``localStorage`` (same origin only, for 15 minutes),
and the first signed-in run on the bare root sends the browser back to it, once. Only a relative
path of this app is restored, never another site.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import streamlit as st

from tracing import settings
from tracing.access import AllowList, Visitor, serving_problem

__all__ = ["auth_configured", "current_visitor", "gate"]

log = logging.getLogger("tracing.app")

_VISITOR = "_visitor"
_KEY = "tracing.return"
_MAX_AGE_MS = 15 * 60 * 1000

_SAVE_JS = """
<script>
(function () {
  try {
    var where = window.location.pathname + window.location.search;
    var root = %(root)s;
    if (window.location.search || window.location.pathname.replace(/\\/+$/, "") !== root) {
      window.localStorage.setItem(%(key)s, JSON.stringify({url: where, t: Date.now()}));
    }
  } catch (e) {}
})();
</script>
"""

_RESTORE_JS = """
<script>
(function () {
  try {
    var saved = JSON.parse(window.localStorage.getItem(%(key)s) || "null");
    window.localStorage.removeItem(%(key)s);
    if (saved && typeof saved.url === "string" && Date.now() - saved.t < %(age)d
        && saved.url.charAt(0) === "/" && saved.url.charAt(1) !== "/"
        && saved.url.indexOf("\\\\") < 0) {
      window.location.replace(saved.url);
    }
  } catch (e) {}
})();
</script>
"""


def auth_configured() -> bool:
    """Whether sign-in is configured (an ``[auth]`` section in the secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises rather than answer
        return False


def _providers() -> list[str | None]:
    """Return the provider names of ``[auth]``: ``[None]`` for one unnamed provider."""
    section: Any = st.secrets["auth"]
    if "client_id" in section or "server_metadata_url" in section:
        return [None]
    return [name for name, value in section.items() if hasattr(value, "keys")] or [None]


def _root() -> str:
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return "/" + base if base else ""


def _script(template: str) -> None:
    st.html(
        template % {"key": json.dumps(_KEY), "root": json.dumps(_root()), "age": _MAX_AGE_MS},
        unsafe_allow_javascript=True,
    )


def current_visitor() -> Visitor:
    """Return the visitor of this run (anonymous without sign-in)."""
    visitor = st.session_state.get(_VISITOR)
    return visitor if isinstance(visitor, Visitor) else Visitor(signed_in=False)


def _sign_in_page(providers: list[str | None]) -> None:
    _script(_SAVE_JS)
    st.title("Sign in to the performance tracing app")
    opened_link = bool(st.query_params.to_dict())
    st.markdown(
        "This app is for your organisation only. Sign in with your work account"
        + (": the link you opened shows its view right after." if opened_link else ".")
    )
    for provider in providers:
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        if st.button(label, type="primary", key=f"sign_in_{provider}"):
            st.login(provider) if provider else st.login()


def _not_allowed(visitor: Visitor, allow: AllowList) -> None:
    st.title("You are signed in, but not allowed in")
    who = visitor.email or "Your account"
    if allow.empty:
        st.error(
            "This deployment admits nobody yet: its operator sets TRACING_ALLOWED_EMAILS "
            "(addresses or @domains) to open it.",
            icon=":material/lock:",
        )
    elif visitor.verified is False:
        st.error(
            f"{who}: your identity provider has not verified this email address, and only "
            "verified addresses are admitted. Verify it with your provider, then sign in again.",
            icon=":material/lock:",
        )
    else:
        st.error(
            f"{who} is not on this deployment's list of people allowed in. Ask whoever runs "
            "it to add you (or your @domain).",
            icon=":material/lock:",
        )
    if st.button("Sign out"):
        st.logout()


def gate() -> Visitor:
    """Stop the run unless the visitor may see the app; return who they are.

    Without ``[auth]``: the app serves anonymously, and refuses to serve on an address other
    than loopback unless ``TRACING_ALLOW_ANONYMOUS`` (`tracing.access.serving_problem`).
    With it: a visitor who is not signed in sees only the sign-in page; one outside
    ``TRACING_ALLOWED_EMAILS`` sees only "not allowed".
    """
    if not auth_configured():
        problem = serving_problem(
            st.get_option("server.address"),
            auth=False,
            allow_anonymous=bool(settings.get("TRACING_ALLOW_ANONYMOUS")),
        )
        if problem:
            st.error(problem, icon=":material/lock:")
            st.stop()
        visitor = Visitor(signed_in=False)
        st.session_state[_VISITOR] = visitor
        return visitor
    if not st.user.is_logged_in:
        _sign_in_page(_providers())
        st.stop()
    visitor = Visitor.from_claims(st.user.to_dict(), signed_in=True)
    allow: AllowList = settings.get("TRACING_ALLOWED_EMAILS")
    if not allow.admits(visitor.email, verified=visitor.verified):
        log.info("refused %s (verified=%s)", visitor.email, visitor.verified)
        _not_allowed(visitor, allow)
        st.stop()
    st.session_state[_VISITOR] = visitor
    if not st.query_params.to_dict():
        _script(_RESTORE_JS)  # back to the link opened before signing in, if any
    with st.sidebar:
        st.caption(f"Signed in as **{visitor.email}**")
        if st.button("Sign out", key="sign_out", type="tertiary"):
            st.logout()
    return visitor
