"""`ml-credentials`: create a key, store a secret from stdin, list names. Never prints a secret."""

from __future__ import annotations

import sys

import click

from ml_credentials.store import DEFAULT_KEY_ENV, CredentialStore, CredentialStoreError, generate_key


@click.group()
def main() -> None:
    """Manage the encrypted credential store shared by tap-datev and target-databricks."""


@main.command()
def keygen() -> None:
    """Print a new store key (keep it in a secret manager and export it)."""
    click.echo(generate_key())


@main.command("set")
@click.option("--store", "store_path", required=True, type=click.Path(), help="Store directory.")
@click.option("--key-env", default=DEFAULT_KEY_ENV, show_default=True)
@click.argument("name")
@click.argument("field")
def set_field(store_path: str, key_env: str, name: str, field: str) -> None:
    """Set FIELD of entry NAME to the value read from standard input (no echo, no argv)."""
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.UsageError("No value on standard input.")
    try:
        store = CredentialStore.from_env(store_path, key_env)
        with store.locked(name):
            entry = store.get(name) or {}
            entry[field] = value
            store.put(name, entry)
    except CredentialStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Stored {name}.{field} in {store.path}")


@main.command("list")
@click.option("--store", "store_path", required=True, type=click.Path())
@click.option("--key-env", default=DEFAULT_KEY_ENV, show_default=True)
def list_entries(store_path: str, key_env: str) -> None:
    """List entry names and their field names (values are never shown)."""
    try:
        store = CredentialStore.from_env(store_path, key_env)
        for name in store.names():
            fields = sorted((store.get(name) or {}).keys())
            click.echo(f"{name}: {', '.join(fields)}")
    except CredentialStoreError as exc:
        raise click.ClickException(str(exc)) from exc
