"""``rxt demo``: the whole product on local simulators, scene by scene (see docs/demo.md)."""
