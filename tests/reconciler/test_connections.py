"""The engine configuration's platform connections become drivers with the settings asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.resources import Platform
from drivers.nsx import NsxDriver
from reconciler.wiring.config import parse_config
from reconciler.wiring.connections import close_all, connect


def _config(tmp_path: Path, **nsx: Any) -> dict[str, Any]:
    site = {"url": "https://nsx.example.com", "username": "rxt", "password": "pw", **nsx}
    return {"cache_dir": str(tmp_path), "nsx": {"nsx-dfw": site}}


@pytest.mark.parametrize(
    ("given", "seconds"), [({}, 2.0), ({"realization_poll_seconds": 0.25}, 0.25)]
)
def test_the_nsx_realization_poll_interval_reaches_the_driver(
    tmp_path: Path, given: dict[str, Any], seconds: float
) -> None:
    sites = connect(parse_config(_config(tmp_path, **given)))
    try:
        driver = sites.driver(Platform.NSX, "nsx-dfw")
        assert isinstance(driver, NsxDriver)
        assert driver.settings.poll_seconds == seconds
    finally:
        close_all(sites)


def test_a_zero_poll_interval_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nsx\.nsx-dfw\.realization_poll_seconds"):
        parse_config(_config(tmp_path, realization_poll_seconds=0))
