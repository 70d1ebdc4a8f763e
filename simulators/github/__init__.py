"""A fake of the few GitHub and GitLab REST endpoints PR previews use: comments, merge request
notes and commit statuses (see docs/previews.md)."""

from simulators.github.records import GITHUB_BODY_LIMIT, Call, Comment, Status
from simulators.github.server import ForgeSimulator

__all__ = ["GITHUB_BODY_LIMIT", "Call", "Comment", "ForgeSimulator", "Status"]
