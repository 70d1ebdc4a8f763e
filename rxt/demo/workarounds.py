"""The one work-around the demo still needs, and why: dropping the planner's regorus engines.

``rxt.demo.story`` registers ``release_policy_engines`` to run as the demo ends.
"""

from __future__ import annotations

from planner import bundles, policy
from reconciler.planning import on_planning_thread


def _drop_engines() -> None:
    # Private parts of the planner, reached for on purpose; see release_policy_engines.
    bundles._COMPILED.__dict__.clear()
    policy._ENGINES.__dict__.clear()


def release_policy_engines() -> None:
    """Drop the planner's cached regorus engines on the planning thread that made them.

    The planner keeps compiled bundles and engines per thread; regorus engines may only be
    dropped by the thread that made them, and the planning thread's are otherwise dropped at
    interpreter exit from another thread, which prints ``RuntimeError: regoruspy::Engine is
    unsendable`` after the demo's last line.
    """
    on_planning_thread(_drop_engines)
