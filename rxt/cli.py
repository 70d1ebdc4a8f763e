"""The ``rxt`` command line: one Typer app, each command group in its own module.

Exit codes follow Terraform's for plans (0 no changes, 1 error, 2 changes) plus 3 for a policy
denial and 4 for a broken audit chain. Usage errors exit 64, never 2.
"""

from __future__ import annotations

import sys
from importlib import metadata

import typer

# Typer 0.29 carries its own copy of Click; its usage errors are these classes.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from rxt.commands import register_all

EXIT_USAGE = 64

app = typer.Typer(
    name="rxt",
    help="RXT Deploy: a GitOps engine for vSphere, NSX and Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register_all(app)


@app.callback()
def _root() -> None:
    """RXT Deploy: a GitOps engine for vSphere, NSX and Kubernetes."""


@app.command()
def version() -> None:
    """Print the version of RXT Deploy."""
    typer.echo(f"rxt-deploy {metadata.version('rxt-deploy')}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of raising ``SystemExit``."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="rxt", standalone_mode=False)
    except NoArgsIsHelpError as error:
        error.show()
        return 0
    except UsageError as error:
        error.show()
        return EXIT_USAGE
    except typer.Abort:
        return 1
    except typer.Exit as done:
        return int(done.exit_code)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
