"""A running fake forge with one GitHub repository, one GitLab project and their tokens."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulators.github import ForgeSimulator

TOKEN = "ghp-test-token"
READ_ONLY = "ghp-read-only"
REPO = "acme/envs"
PROJECT_ID = 42
PROJECT = "acme/gl-envs"


@pytest.fixture
def forge() -> Iterator[ForgeSimulator]:
    with ForgeSimulator() as sim:
        sim.add_token(TOKEN)
        sim.add_token(READ_ONLY, read_only=True)
        sim.add_repository(REPO, reviews=(7,))
        sim.add_repository(PROJECT, reviews=(3,), project_id=PROJECT_ID)
        yield sim


@pytest.fixture
def github(forge: ForgeSimulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=forge.url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def gitlab(forge: ForgeSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=forge.gitlab_url, headers={"PRIVATE-TOKEN": TOKEN}, timeout=5
    ) as client:
        yield client
