"""The error tree renders a message, a location and a hint the way users read them."""

from __future__ import annotations

from core.errors import Location, ManifestError, ManifestErrors, RxtError, TransientError


def test_manifest_error_names_file_line_and_column_and_hint() -> None:
    error = ManifestError(
        "placement 'pci-dss' requires a VM, but target is 'kubernetes'",
        location=Location("apps/payments/deploy.yaml", 14, 5),
        hint="remove placement.target or set it to vm",
    )
    assert error.render() == (
        "apps/payments/deploy.yaml:14:5: placement 'pci-dss' requires a VM, but target is "
        "'kubernetes'\n  hint: remove placement.target or set it to vm"
    )


def test_many_manifest_errors_render_one_per_line() -> None:
    errors = [
        ManifestError("a", location=Location("x.yaml", 1, 1)),
        ManifestError("b", location=Location("y.yaml", 2, 3)),
    ]
    assert ManifestErrors(errors).render() == "x.yaml:1:1: a\ny.yaml:2:3: b"


def test_platform_errors_say_whether_to_retry() -> None:
    assert TransientError("busy").retryable
    assert isinstance(TransientError("busy"), RxtError)


def test_location_without_line_is_just_the_path() -> None:
    assert str(Location("environment.yaml")) == "environment.yaml"
