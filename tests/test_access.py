"""Who may enter: the allow-list, verified emails, and serving without sign-in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracing import settings
from tracing.access import AllowList, Visitor, is_loopback, serving_problem
from tracing.errors import DataError


def test_addresses_and_domains_case_insensitive() -> None:
    allow = AllowList.parse(" PM@Acme.example ,@eng.acme.example,, ")
    assert allow.admits("pm@acme.example") and allow.admits("Dev@ENG.acme.example")
    assert not allow.admits("dev@acme.example")  # the domain entry is eng.acme.example only
    assert not allow.admits("pm@acme.example.evil.test")  # a suffix is not the domain
    assert not allow.admits("x@evil-eng.acme.example")


def test_only_verified_emails_count_when_the_provider_says() -> None:
    allow = AllowList.parse("@acme.example")
    assert allow.admits("pm@acme.example", verified=True)
    assert allow.admits("pm@acme.example", verified=None)
    assert not allow.admits("pm@acme.example", verified=False)
    assert not AllowList.parse("*").admits("anyone@x.example", verified=False)


def test_empty_admits_nobody_and_star_admits_everyone() -> None:
    assert AllowList.parse("").empty and not AllowList.parse("").admits("pm@acme.example")
    assert AllowList.parse("*").admits("anyone@anywhere.example")
    assert not AllowList.parse("*").admits(None)


@pytest.mark.parametrize("bad", ["pm", "pm@", "@", "acme.example", "a@b", "two@@x.example"])
def test_a_malformed_entry_is_refused_at_start_up(bad: str) -> None:
    with pytest.raises(DataError, match="TRACING_ALLOWED_EMAILS"):
        settings.get(
            "TRACING_ALLOWED_EMAILS", environ={"TRACING_ALLOWED_EMAILS": f"ok@x.io,{bad}"}
        )
    assert any(
        "TRACING_ALLOWED_EMAILS" in p
        for p in settings.problems(environ={"TRACING_ALLOWED_EMAILS": bad})
    )


@given(
    user=st.from_regex(r"[a-z0-9.]{1,10}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9]{1,8}\.[a-z]{2,4}", fullmatch=True),
    other=st.from_regex(r"[a-z0-9]{1,8}\.[a-z]{2,4}", fullmatch=True),
)
def test_a_domain_entry_admits_exactly_its_domain(user: str, domain: str, other: str) -> None:
    allow = AllowList.parse(f"@{domain}")
    assert allow.admits(f"{user}@{domain}")
    assert allow.admits(f"{user}@{other}") == (other == domain)


def test_visitor_from_claims() -> None:
    v = Visitor.from_claims(
        {"email": " PM@Acme.example", "email_verified": "false"}, signed_in=True
    )
    assert (v.email, v.verified, v.uploader) == ("pm@acme.example", False, "pm@acme.example")
    assert Visitor.from_claims({}, signed_in=False).uploader == "anonymous"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("127.8.9.1", True), ("0.0.0.0", False), ("", False), ("10.0.0.5", False),
     ("app.internal", False), ("::", False)],
)  # fmt: skip
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_serving_beyond_loopback_needs_sign_in_or_an_explicit_opt_in() -> None:
    assert serving_problem("127.0.0.1", auth=False, allow_anonymous=False) is None
    problem = serving_problem("0.0.0.0", auth=False, allow_anonymous=False)
    assert problem and "TRACING_ALLOW_ANONYMOUS=1" in problem and "[auth]" in problem
    assert serving_problem(None, auth=False, allow_anonymous=False)  # every interface
    assert serving_problem("0.0.0.0", auth=True, allow_anonymous=False) is None
    assert serving_problem("0.0.0.0", auth=False, allow_anonymous=True) is None
