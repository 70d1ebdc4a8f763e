"""Collects the texts a secret could leak into and searches them for canaries (bar R9)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field


@dataclass
class Places:
    """Named texts to search; each ``add`` is one place, counted in the report."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        if name in self.texts:
            raise ValueError(f"place {name!r} added twice")
        self.texts[name] = text

    def add_error(self, name: str, error: BaseException) -> None:
        """An exception as a user, a log and a debugger would see it: every link of its chain."""
        links: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and current not in links:
            links.append(current)
            current = current.__cause__ or current.__context__
        for index, link in enumerate(links):
            rendered = link.render() if hasattr(link, "render") else ""
            attributes = " ".join(f"{k}={v!r}" for k, v in vars(link).items())
            self.add(
                f"{name} (chain link {index}: {type(link).__name__})",
                f"{link!s}\n{link!r}\n{rendered}\n{attributes}",
            )
        formatted = "".join(traceback.format_exception(error))
        self.add(f"{name} (formatted traceback)", formatted)

    def holding(self, canary: str) -> list[str]:
        """The names of the places whose text contains ``canary``."""
        return [name for name, text in self.texts.items() if canary in text]
