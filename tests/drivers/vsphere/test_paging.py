"""Observation follows the continuation token of RetrievePropertiesEx (vcsim never pages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.vsphere.inventory import PAGE_SIZE, _pages


@dataclass
class Page:
    objects: list[str]
    token: str | None = None


@dataclass
class PagingCollector:
    """A property collector that hands out ``pages`` the way vCenter does past maxObjects."""

    pages: list[Page]
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def RetrievePropertiesEx(self, *, specSet: list[Any], options: Any) -> Page:  # noqa: N802, N803
        self.calls.append(("RetrievePropertiesEx", options.maxObjects))
        return self.pages[0]

    def ContinueRetrievePropertiesEx(self, *, token: str) -> Page:  # noqa: N802
        self.calls.append(("ContinueRetrievePropertiesEx", token))
        return self.pages[int(token)]


def test_every_page_is_read_by_following_the_token() -> None:
    collector = PagingCollector(
        [Page(["vm-1", "vm-2"], token="1"), Page(["vm-3"], token="2"), Page(["vm-4"])]
    )
    assert list(_pages(collector, spec=object())) == ["vm-1", "vm-2", "vm-3", "vm-4"]
    assert collector.calls == [
        ("RetrievePropertiesEx", PAGE_SIZE),
        ("ContinueRetrievePropertiesEx", "1"),
        ("ContinueRetrievePropertiesEx", "2"),
    ]


def test_an_empty_folder_answers_none_and_yields_nothing() -> None:
    class Empty(PagingCollector):
        def RetrievePropertiesEx(self, *, specSet: list[Any], options: Any) -> Any:  # noqa: N802, N803
            return None

    assert list(_pages(Empty([]), spec=object())) == []
