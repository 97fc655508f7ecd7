"""Who may enter a hosted deployment, and when the app may serve without sign-in.

One deployment is one organisation. With sign-in configured (Streamlit's ``st.login``, an
``[auth]`` section in ``.streamlit/secrets.toml``), a signed-in user enters only when their email
is on the allow-list ``TRACING_ALLOWED_EMAILS``: comma-separated addresses
(``pm@acme.example``) and domains (``@acme.example``), compared case-insensitively; ``*`` admits
everyone the identity provider signs in. An empty list admits nobody (an operator who forgot it
gets a locked app, not an open one). When the provider says whether an email is verified
(``email_verified``), only a verified email counts.

Without sign-in the app is single-user: it serves on loopback only, unless the operator opts in
to anonymous access on another interface with ``TRACING_ALLOW_ANONYMOUS=1`` (`serving_problem`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EVERYONE", "AllowList", "Visitor", "is_loopback", "serving_problem"]

EVERYONE = "*"
# Deliberately loose (one @, something on each side, a dot in the domain): the provider has
# already vetted the address; this only catches typos in the operator's list.
_ADDRESS = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_DOMAIN = re.compile(r"^@[^@\s,]+\.[^@\s,]+$")


@dataclass(frozen=True)
class AllowList:
    """The addresses and domains admitted (`parse` reads ``TRACING_ALLOWED_EMAILS``).

    Examples
    --------
    >>> allow = AllowList.parse("pm@acme.example, @eng.acme.example")
    >>> allow.admits("PM@acme.example"), allow.admits("dev@eng.acme.example")
    (True, True)
    >>> allow.admits("dev@acme.example"), allow.admits("pm@acme.example", verified=False)
    (False, False)
    """

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    everyone: bool = False

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Parse a comma-separated list; raise ``ValueError`` naming a malformed entry."""
        addresses, domains, everyone = set(), set(), False
        for part in text.split(","):
            item = part.strip().lower()
            if not item:
                continue
            if item == EVERYONE:
                everyone = True
            elif _DOMAIN.match(item):
                domains.add(item[1:])
            elif _ADDRESS.match(item):
                addresses.add(item)
            else:
                raise ValueError(
                    f"{part.strip()!r} is neither an address (pm@acme.example) nor a domain "
                    "(@acme.example) nor *"
                )
        return cls(frozenset(addresses), frozenset(domains), everyone)

    @property
    def empty(self) -> bool:
        """Whether nobody is admitted."""
        return not (self.addresses or self.domains or self.everyone)

    def admits(self, email: str | None, *, verified: bool | None = None) -> bool:
        """Whether a signed-in user with this email may enter.

        ``verified`` is the provider's ``email_verified`` claim: ``False`` never enters, ``None``
        (the provider does not say) counts the email as given.
        """
        if verified is False or not email:
            return False
        address = email.strip().lower()
        if self.everyone:
            return True
        domain = address.rpartition("@")[2]
        return address in self.addresses or domain in self.domains


@dataclass(frozen=True)
class Visitor:
    """Who is looking: the signed-in user's claims that matter here.

    Attributes
    ----------
    signed_in : bool
        Whether the provider signed the visitor in.
    email : str or None
        Their email (lower-cased).
    verified : bool or None
        The provider's ``email_verified`` claim (None: not given).
    """

    signed_in: bool
    email: str | None = None
    verified: bool | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, signed_in: bool) -> Visitor:
        """Build a visitor from OIDC claims (``st.user``'s mapping)."""
        email = claims.get("email")
        verified = claims.get("email_verified")
        if isinstance(verified, str):  # some providers send "true"/"false"
            verified = verified.strip().lower() == "true"
        return cls(
            signed_in=signed_in,
            email=str(email).strip().lower() if email else None,
            verified=verified if isinstance(verified, bool) else None,
        )

    @property
    def uploader(self) -> str:
        """The key of this visitor's upload records in the dataset store."""
        return self.email or "anonymous"


def is_loopback(address: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    host = address.strip().strip("[]").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or empty (all interfaces)


def serving_problem(address: str | None, *, auth: bool, allow_anonymous: bool) -> str | None:
    """Say why the app must not serve as configured (None: fine).

    Parameters
    ----------
    address : str or None
        Streamlit's ``server.address`` (None or empty: every interface).
    auth : bool
        Whether sign-in (``[auth]``) is configured.
    allow_anonymous : bool
        ``TRACING_ALLOW_ANONYMOUS``.
    """
    if auth or allow_anonymous or (address and is_loopback(address)):
        return None
    where = f"on {address}" if address else "on every network interface"
    return (
        f"The app is set to serve {where} without sign-in, so anyone who can reach it could "
        "read every allowed file. Configure sign-in ([auth] in .streamlit/secrets.toml, see the "
        "README's 'Host it for your team'), serve on 127.0.0.1 (--server.address 127.0.0.1), "
        "or allow anonymous access on purpose with TRACING_ALLOW_ANONYMOUS=1."
    )
