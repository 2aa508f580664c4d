"""The Typer app and what every command shares: one-line errors (exit 2), interrupts (exit 130/143), warnings."""

from __future__ import annotations

import functools

import typer

from causaliqa.errors import CausaliqaError

app = typer.Typer(
    help="Causal analysis of image-quality metrics (IQA) and DNN robustness: declare DAGs, query "
    "d-separation, score images, test the implied independencies against data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain text: 'causaliqa[ray]' stays as written
)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    typer.echo(f"warning: {message}", err=True)


def user_errors(func):
    """Print a user mistake on one line and exit 2, without a traceback; an interrupted run says what it kept."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import warnings

        from causaliqa.errors import Interrupted

        from causaliqa.errors import CausaliqaWarning

        previous = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", CausaliqaWarning)
                return func(*args, **kwargs)
        except CausaliqaError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except Interrupted as stop:
            typer.echo(str(stop), err=True)
            raise typer.Exit(stop.exit_code) from None
        except KeyboardInterrupt:  # outside scoring nothing is half-written (every file is replaced atomically)
            typer.echo("interrupted: nothing was written by this command", err=True)
            raise typer.Exit(130) from None
        finally:
            warnings.showwarning = previous

    return wrapper


def main() -> None:  # console-script entry point
    import causaliqa.cli  # noqa: F401  (registers every command)

    app()
