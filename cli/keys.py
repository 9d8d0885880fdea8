"""`taskpack keys`: the HTTP API's secret keys, one environment each. The key is printed once, at creation."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from cli.common import DB_OPTION, console, handle_errors, print_json
from store import api_keys

app = typer.Typer(help="Secret API keys for the HTTP API (stored hashed; shown once).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")


@app.command("create")
@handle_errors
def create(
    env: str = typer.Option(..., "--env", help="dev, staging or prod"),
    name: Optional[str] = typer.Option(None, "--name", help="a label to recognise the key by"),
    as_json: bool = typer.Option(False, "--json"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Create a key and print it: this is the only time it is shown (the database keeps its hash)."""
    created = api_keys.create_key(env, name, database_url=database_url)
    if as_json:
        print_json({"id": created.id, "environment": created.environment, "name": created.name, "key": created.key})
        return
    typer.echo(created.key)
    console.print(f"[dim]id {created.id} · {created.environment} · shown once: store it now[/dim]", highlight=False)


@app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json"), database_url: Optional[str] = DB_OPTION) -> None:
    """Every key (never the key itself): id, environment, name, prefix, created, revoked."""
    keys = api_keys.list_keys(database_url=database_url)
    if as_json:
        print_json([k.model_dump(mode="json") for k in keys])
        return
    table = Table("id", "env", "name", "prefix", "created", "revoked")
    for k in keys:
        table.add_row(k.id, k.environment, k.name or "", k.display_prefix, f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(key_id: str = typer.Argument(..., metavar="ID"), database_url: Optional[str] = DB_OPTION) -> None:
    """Revoke a key: every request with it, and every public token it issued, is refused from now on."""
    key = api_keys.revoke_key(key_id, database_url=database_url)
    typer.echo(f"revoked {key.id}")
