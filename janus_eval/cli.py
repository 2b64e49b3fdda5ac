"""The ``janus-eval`` command: the subcommands (``janus_eval.commands``) on one app; errors are one line and exit 2."""

from __future__ import annotations

import sys

import typer

from janus_eval.commands import bench, data, evaluate, results
from janus_eval.commands.common import err_console
from janus_eval.errors import JanusEvalError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fast, exact evaluation of Janus models.")
for name, command in [("list", data.list_command), ("run", evaluate.run_command), ("score", evaluate.score_command),
                      ("rescore", evaluate.rescore_command), ("table", results.table_command), ("gate", results.gate_command),
                      ("leaderboard", results.leaderboard_command), ("download", data.download_command),
                      ("bench", bench.bench_command)]:  # fmt: skip
    app.command(name)(command)


def os_error_message(err: OSError) -> str:
    """One accurate line per cause: only a failed write can promise that earlier results are unchanged
    (janus-eval writes atomically), a missing or unreadable input is named as such."""
    import errno

    path = err.filename
    reason = err.strerror or str(err) or type(err).__name__
    if path is None:
        return f"{reason} ({type(err).__name__})"
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{reason} writing {path}; what was written before is unchanged, make room and rerun the same command to resume"
    causes = {
        errno.ENOENT: f"{path} does not exist",
        errno.EISDIR: f"{path} is a folder where a file was expected",
        errno.ENOTDIR: f"{path}: part of this path is a file, not a folder",
        errno.EACCES: f"permission denied: {path}; make it readable (and --out writable) or use another path",
        errno.EPERM: f"operation not permitted on {path}",
        errno.EROFS: f"{path} is on a read-only file system; pass an --out on a writable one",
        errno.ELOOP: f"{path}: too many levels of symbolic links",
    }
    return causes.get(err.errno, f"{reason}: {path}")


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {_one_line(message)}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(code)


def _interrupted() -> None:
    command = "janus-eval " + " ".join(sys.argv[1:])
    err_console.print(f"interrupted: what was written is kept; rerun the same command to resume: {command}",
                      highlight=False, soft_wrap=True, markup=False)  # fmt: skip
    sys.exit(130)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    import signal

    if hasattr(signal, "SIGXFSZ"):  # over a file-size limit: let the write fail with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        code = app(standalone_mode=False)
    except JanusEvalError as err:
        _fail(str(err))
    except (KeyboardInterrupt, typer.Abort):
        _interrupted()
    except OSError as err:  # a file that is missing, a folder, not ours to read, or a full disk: say which
        _fail(os_error_message(err))
    except Exception as err:
        # Usage errors come from the click that typer bundles; recognise them by their interface.
        if callable(getattr(err, "show", None)) and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            sys.exit(err.exit_code)
        raise
    if code == 130:  # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns it
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)
