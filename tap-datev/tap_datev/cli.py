"""`tap-datev`: the Singer command, plus `login`, `logout` and `submit`.

singer-sdk's `Tap.cli` takes options only (--about, --discover, --config, --catalog, --state …),
so `main()` looks at the first argument: a subcommand name goes to the click group below,
anything else to the Singer command.
"""

from __future__ import annotations

import sys

import click

from tap_datev.check import check
from tap_datev.command_config import config_option, load_config
from tap_datev.errors import DatevAuthError, DatevConfigError
from tap_datev.ledger import LedgerError
from tap_datev.login import login, logout
from tap_datev.submit import submit
from tap_datev.tap import TapDatev

SUBCOMMANDS = ("login", "logout", "submit", "check")


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
    except (DatevAuthError, DatevConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.describe(), err=True)


@commands.command("logout")
@config_option
def logout_command(config_args: tuple[str, ...]) -> None:
    """Revoke the stored DATEV access and refresh token and delete them from the store."""
    config = load_config(config_args)
    try:
        result = logout(config)
    except (DatevAuthError, DatevConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    if result.had_tokens:
        click.echo(f"Revoked {' and '.join(result.revoked)}; deleted {result.entry}.", err=True)
    else:
        click.echo(f"No DATEV login stored as {result.entry}; nothing to revoke.", err=True)


commands.add_command(submit)
commands.add_command(check)


def subcommand_first(args: list[str]) -> list[str]:
    """Move leading `--config X` options behind a subcommand.

    `meltano invoke tap-datev login` runs `tap-datev --config <generated file> login`.
    """
    index = 0
    while index < len(args):
        if args[index] == "--config" and index + 1 < len(args):
            index += 2
        elif args[index].startswith("--config="):
            index += 1
        else:
            break
    if not index or index >= len(args) or args[index] not in SUBCOMMANDS:
        return args
    head, rest = [args[index]], args[index + 1 :]
    # A group (submit) takes --config on its commands: `submit extf --config X FILE`.
    if isinstance(commands.commands.get(args[index]), click.Group) and rest and not rest[0].startswith("-"):
        head.append(rest.pop(0))
    return [*head, *args[:index], *rest]


def main(argv: list[str] | None = None) -> None:
    """Console script entry point `tap-datev`."""
    args = subcommand_first(list(sys.argv[1:] if argv is None else argv))
    if args and args[0] in SUBCOMMANDS:
        commands.main(args=args, prog_name="tap-datev")  # exits
    try:
        TapDatev.cli.main(args=args, prog_name="tap-datev")
    except (DatevAuthError, DatevConfigError, LedgerError) as exc:
        # e.g. "... run tap-datev login again" or "another tap-datev process holds the ledger":
        # a traceback would only hide the advice.
        TapDatev.logger.error("%s", exc)
        sys.exit(1)
