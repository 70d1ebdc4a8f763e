"""Manifest texts and throw-away repositories shared by the manifest tests."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

EXAMPLE_REPO = Path(__file__).resolve().parents[2] / "example-repo"

ENVIRONMENT = """\
apiVersion: deploy.rxt.io/v1
kind: Environment
metadata:
  name: {name}
  tenant: acme
spec:
  sites:
{sites}
  policy:
    packs: [baseline]
"""

SITES = {
    "vsphere": """\
    vsphere:
      site: sddc-dfw
      datacenter: DC0
      cluster: DC0_C0
      folder: acme
      network: VM Network
      template: ubuntu-2404-docker
""",
    "kubernetes": """\
    kubernetes: {site: spot-dfw, namespace: acme}
""",
    "nsx": """\
    nsx: {site: nsx-dfw, tier1: acme-t1}
""",
}


def app_text(extra: str = "", *, name: str = "shop") -> str:
    """A valid deploy.yaml whose spec lines after the image start on line 7."""
    head = (
        "apiVersion: deploy.rxt.io/v1\n"
        "kind: Application\n"
        "metadata:\n"
        f"  name: {name}\n"
        "spec:\n"
        "  image: registry.example.com/shop:1.0\n"
    )
    return (
        head + textwrap.indent(textwrap.dedent(extra).strip("\n") + "\n", "  ") if extra else head
    )


def environment_text(
    name: str = "prod", *, sites: tuple[str, ...] = ("vsphere", "kubernetes")
) -> str:
    """A valid environment.yaml with the chosen sites."""
    return ENVIRONMENT.format(name=name, sites="".join(SITES[site] for site in sites))


def write_repo(root: Path, environments: dict[str, dict[str, str]]) -> Path:
    """A repository under ``root``: each environment's files by relative path -> text."""
    for env, files in environments.items():
        for relative, text in files.items():
            target = root / "environments" / env / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return root


def copy_example(root: Path) -> Path:
    """A private copy of the example repository, safe to break."""
    shutil.copytree(EXAMPLE_REPO, root, dirs_exist_ok=True)
    return root
