"""Parsing and verifying GitHub and GitLab payloads: only the fields used, constant-time checks."""

from __future__ import annotations

import hmac
import json

import pytest

from reconciler import webhooks
from reconciler.webhooks import (
    Ping,
    Push,
    ReviewRequest,
    WebhookRejected,
    github_signature,
    identify,
    parse_event,
    verify_github,
    verify_gitlab,
)
from tests.reconciler import payloads


def test_a_github_push_keeps_ref_before_after_and_the_clone_url() -> None:
    body = json.dumps(payloads.github_push()).encode()
    repo = identify("github", body)
    event = parse_event("github", "push", body, repo)
    assert isinstance(event, Push)
    assert (event.ref, event.before, event.after) == ("refs/heads/main", "a" * 40, "b" * 40)
    assert event.repository.clone_url == "https://github.com/acme/env-repo.git"


@pytest.mark.parametrize(
    ("provider", "name", "payload", "expected"),
    [
        ("github", "pull_request", payloads.github_pull_request(), ("opened", 42, "c" * 40)),
        ("gitlab", "Merge Request Hook", payloads.gitlab_merge_request(), ("open", 5, "e" * 40)),
    ],
)
def test_a_review_request_keeps_action_number_head_and_base(
    provider: webhooks.Provider,
    name: str,
    payload: dict[str, object],
    expected: tuple[str, int, str],
) -> None:
    body = json.dumps(payload).encode()
    event = parse_event(provider, name, body, identify(provider, body))
    assert isinstance(event, ReviewRequest)
    assert (event.action, event.number, event.head_sha) == expected
    assert event.base_ref == "main"


def test_a_gitlab_push_names_the_project_by_its_path() -> None:
    body = json.dumps(payloads.gitlab_push()).encode()
    repo = identify("gitlab", body)
    assert repo.full_name == "acme/env-repo"
    event = parse_event("gitlab", "Push Hook", body, repo)
    assert isinstance(event, Push)
    assert event.after == "d" * 40


def test_a_ping_is_understood() -> None:
    body = json.dumps(payloads.github_ping()).encode()
    assert isinstance(parse_event("github", "ping", body, identify("github", body)), Ping)


@pytest.mark.parametrize(
    ("provider", "event", "body", "outcome"),
    [
        ("github", "push", b"not json", "malformed"),
        ("github", "push", b"[1, 2]", "malformed"),
        ("github", "push", b'{"ref": "x"}', "malformed"),
        ("gitlab", "Push Hook", b'{"object_kind": "push"}', "malformed"),
    ],
)
def test_a_body_without_a_repository_is_malformed(
    provider: webhooks.Provider, event: str, body: bytes, outcome: str
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        identify(provider, body)
    assert caught.value.outcome == outcome
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("provider", "event"),
    [("github", "issues"), ("github", "release"), ("gitlab", "Tag Push Hook")],
)
def test_an_event_not_handled_is_refused_with_the_list_of_handled_ones(
    provider: webhooks.Provider, event: str
) -> None:
    body = json.dumps(payloads.github_push() | {"project": payloads.GITLAB_PROJECT}).encode()
    with pytest.raises(WebhookRejected, match="not handled") as caught:
        parse_event(provider, event, body, identify(provider, body))
    assert caught.value.outcome == "unknown_event"
    assert "push" in caught.value.hint.lower()


def test_a_push_missing_a_field_we_use_names_the_field() -> None:
    body = json.dumps({"repository": payloads.GITHUB_REPO, "ref": "refs/heads/main"}).encode()
    with pytest.raises(WebhookRejected, match="before"):
        parse_event("github", "push", body, identify("github", body))


BODY = b'{"ref": "refs/heads/main"}'
GOOD = github_signature(BODY, "secret")


@pytest.mark.parametrize(
    ("signature", "secrets", "verified"),
    [
        (GOOD, ["secret"], True),
        (GOOD, ["old", "secret"], True),  # a rotation: either secret verifies
        (None, ["secret"], False),
        ("", ["secret"], False),
        (GOOD, [], False),
        (GOOD, ["other"], False),
        (GOOD.upper(), ["secret"], False),
        ("sha1=" + GOOD[7:], ["secret"], False),
        (GOOD[:-1], ["secret"], False),
        (github_signature(BODY + b" ", "secret"), ["secret"], False),
    ],
)
def test_a_github_signature_verifies_only_over_the_exact_body_and_secret(
    signature: str | None, secrets: list[str], verified: bool
) -> None:
    assert verify_github(BODY, signature, secrets) is verified


@pytest.mark.parametrize(
    ("token", "secrets", "verified"),
    [
        ("secret", ["secret"], True),
        ("secret", ["old", "secret"], True),
        ("secre", ["secret"], False),
        ("secret ", ["secret"], False),
        ("", ["secret"], False),
        (None, ["secret"], False),
        ("secret", [], False),
    ],
)
def test_a_gitlab_token_verifies_only_when_equal(
    token: str | None, secrets: list[str], verified: bool
) -> None:
    assert verify_gitlab(token, secrets) is verified


def test_signatures_and_tokens_are_compared_with_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_github(BODY, GOOD, ["a", "secret", "c"])
    verify_gitlab("secret", ["x", "secret"])
    # Every secret is compared, even after a match, so timing does not reveal which matched.
    assert len(calls) == 5
    assert all(len(a) == len(b) for a, b in calls[3:])  # GitLab: equal-length digests
