"""`tap-datev`: the Singer command, plus `login`, `logout` and `submit`.

singer-sdk's `Tap.cli` takes options only (--about, --discover, --config, --catalog, --state …),
so `main()` looks for a subcommand name behind the options Meltano puts first: a subcommand goes
to the click group below, anything else to the Singer command.
"""

from __future__ import annotations

import logging
import sys

import click
import requests

from tap_datev.check import check
from tap_datev.command_config import config_option, load_config
from tap_datev.errors import TapDatevError
from tap_datev.ledger import LedgerError
from tap_datev.login import login, logout
from tap_datev.submit import submit
from tap_datev.tap import TapDatev

SUBCOMMANDS = ("login", "logout", "submit", "check")
# What Meltano puts before the arguments of `meltano invoke tap-datev …` (each with a value).
SINGER_FILE_OPTIONS = ("--config", "--catalog", "--properties", "--state")
# Errors whose message is the whole story; a traceback would only hide the advice.
USER_ERRORS = (TapDatevError, LedgerError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def commands() -> None:
    """tap-datev subcommands. Run `tap-datev --help` for the Singer command (--discover, --config …)."""


@commands.command("login")
@config_option
def login_command(config_args: tuple[str, ...]) -> None:
    """Log in to DATEV in a browser (authorization code + PKCE) and store the token pair.

    With an http loopback redirect_uri (DATEV's sandbox, the local emulator) the command catches
    the redirect itself; otherwise (production's https redirect URI) it prints the URL and asks
    you to paste the URL the browser was redirected to. Tokens go to the encrypted credential
    store under `state_dir`; the store key comes from the variable named by credentials_key_env.
    """
    config = load_config(config_args)
    try:
        result = login(config)
    except TapDatevError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.describe(), err=True)


@commands.command("logout")
@config_option
def logout_command(config_args: tuple[str, ...]) -> None:
    """Revoke the stored DATEV access and refresh token and delete them from the store."""
    config = load_config(config_args)
    try:
        result = logout(config)
    except TapDatevError as exc:
        raise click.ClickException(str(exc)) from None
    if result.had_tokens:
        click.echo(f"Revoked {' and '.join(result.revoked)}; deleted {result.entry}.", err=True)
    else:
        click.echo(f"No DATEV login stored as {result.entry}; nothing to revoke.", err=True)


commands.add_command(submit)
commands.add_command(check)


def subcommand_first(args: list[str]) -> list[str]:
    """Put a subcommand first, whatever options Meltano put before it.

    `meltano invoke tap-datev logout` runs `tap-datev --config F [--catalog C] [--state S] logout`
    (catalog and state once a `meltano run` left them). --config goes behind the subcommand (for a
    group such as submit: behind its command, `submit extf --config F FILE`); catalog and state
    mean nothing to a subcommand and are dropped. Without a subcommand, args stay as they are.
    """
    config: list[str] = []
    index = 0
    while index < len(args):
        name, inline, _ = args[index].partition("=")
        if name not in SINGER_FILE_OPTIONS:
            break
        width = 1 if inline == "=" else 2
        if name == "--config":
            config += args[index : index + width]
        index += width
    if not index or index >= len(args) or args[index] not in SUBCOMMANDS:
        return args
    path, rest = [args[index]], args[index + 1 :]
    command = commands.commands[args[index]]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command = command.commands[rest[0]]
        path.append(rest.pop(0))
    if isinstance(command, click.Group):
        return [*path, *rest]  # e.g. `submit --help`: a group takes no --config
    return [*path, *config, *rest]


def _end_with(exc: BaseException) -> None:
    """One ERROR line, the traceback only at DEBUG, exit 1."""
    logger = logging.getLogger("tap-datev")
    logger.error("%s", exc)
    logger.debug("Traceback of the error above", exc_info=exc)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console script entry point `tap-datev`."""
    args = subcommand_first(list(sys.argv[1:] if argv is None else argv))
    try:
        if args and args[0] in SUBCOMMANDS:
            commands.main(args=args, prog_name="tap-datev")  # exits
        TapDatev.cli.main(args=args, prog_name="tap-datev")
    except USER_ERRORS as exc:
        # e.g. "not logged in to DATEV yet: run …", "cannot reach DATEV at <url>", "another
        # tap-datev process holds the ledger".
        _end_with(exc)
    except requests.RequestException as exc:
        _end_with(TapDatevError(f"DATEV request failed: {type(exc).__name__}"))
