"""The Typer app and what every command shares: one-line errors (exit 2), interrupts (exit 130/143), warnings."""

from __future__ import annotations

import errno
import functools
import sys

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as click_exceptions

from causaliqa.errors import CausaliqaError


class OneLineErrors(TyperGroup):
    """click's own mistakes (a missing argument, --limit 0, an unknown option) as one line and exit 2, like every
    other user mistake, instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError as err:  # `causaliqa` alone: the help
            typer.echo(err.ctx.get_help() if err.ctx else str(err))
            sys.exit(0)
        except click_exceptions.UsageError as err:
            where = err.ctx.command_path if err.ctx else "causaliqa"
            hint = f" (causaliqa {err.ctx.info_name} --help)" if err.ctx and err.ctx.parent else ""
            typer.echo(f"error: {where}: {' '.join(err.format_message().split())}{hint}", err=True)
            sys.exit(2)
        except click_exceptions.ClickException as err:
            typer.echo(f"error: {' '.join(err.format_message().split())}", err=True)
            sys.exit(err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    help="Causal analysis of image-quality metrics (IQA) and DNN robustness: declare DAGs, query "
    "d-separation, score images, test the implied independencies against data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain text: 'causaliqa[ray]' stays as written
)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    typer.echo(f"warning: {message}", err=True)


# an operating-system failure that is the user's to fix (disk full, no permission, read-only): one line, exit 2
_WHAT_IT_NEEDS = {errno.ENOSPC: "free space on the disk", errno.EDQUOT: "disk quota left", errno.EACCES: "permission to write there",
                  errno.EPERM: "permission to change it (immutable or owned by another user)", errno.EROFS: "a writable file system",
                  errno.ENOTDIR: "a folder on the way (part of the path is a file)", errno.EISDIR: "a file (it is a folder)",
                  errno.ENOENT: "an existing folder", errno.ENOTEMPTY: "an empty folder", errno.EEXIST: "a path that is free"}


def os_error_line(err: OSError) -> str:
    import re
    from pathlib import Path

    where = str(err.filename or "causaliqa")
    temporary = re.fullmatch(r"\.(.+)\.\d+\.[0-9a-f]{12}\.tmp", Path(where).name)  # atomic_path's temporary name
    if temporary:
        where = str(Path(where).with_name(temporary.group(1)))
    import os

    return (f"error: {where}: expected {_WHAT_IT_NEEDS[err.errno]}, got {os.strerror(err.errno)} "
            "(files are replaced whole, so nothing stored before was lost; run the same command again once fixed)")


def user_errors(func):
    """Print a user mistake on one line and exit 2, without a traceback; an interrupted run says what it kept."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import warnings

        from causaliqa.errors import Interrupted

        from causaliqa.errors import CausaliqaWarning

        from causaliqa.scoring import store

        store.COMMAND[0] = f"causaliqa {func.__name__.replace('_', '-')}"  # what the store's history says wrote a version
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
            import signal

            for s in (signal.SIGINT, signal.SIGTERM):  # the rows are kept: another Ctrl-C no longer changes the outcome
                signal.signal(s, signal.SIG_IGN)
            typer.echo(str(stop), err=True)
            raise typer.Exit(stop.exit_code) from None
        except OSError as err:
            if err.errno not in _WHAT_IT_NEEDS:
                raise
            typer.echo(os_error_line(err), err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # outside scoring nothing is half-written (files are replaced whole, store commits are atomic)
            typer.echo("interrupted: nothing is half-written (files are replaced whole, store changes are whole commits)", err=True)
            raise typer.Exit(130) from None
        finally:
            warnings.showwarning = previous

    return wrapper


def main() -> None:  # console-script entry point
    import causaliqa.cli  # noqa: F401  (registers every command)

    app()
