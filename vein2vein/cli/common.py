"""What every command group of the CLI shares: settings, the Temporal client, the catalog,
the ledger, the output consoles, and the `command` decorator that turns an expected failure
into one `error:` line on stderr and exit code 1, having changed nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.adapters import DEFAULT_SITES, SitesConfig
from definitions import load_catalog
from vein2vein.settings import Settings
from workflows.definition import CompiledDefinition

if TYPE_CHECKING:
    from records import Ledger

#: Standard output. No emoji or markup substitution: user input like "mod:X" prints as typed.
out = Console(emoji=False)
#: Standard error, where `command` writes the one `error:` line.
err = Console(stderr=True, emoji=False, highlight=False)
T = TypeVar("T")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(1)


def command(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn expected failures into one line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except CliError as e:
            raise _fail(str(e)) from e
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise _fail(f"invalid input: {where}: {message}") from e
        except WorkflowUpdateFailedError as e:
            raise _fail(f"refused: {e.cause.message if e.cause else e}") from e  # type: ignore[attr-defined]
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND and kwargs.get("batch_id"):
                # Temporal's wording differs by server; the batch asked for does not.
                raise _fail(f"no batch {kwargs['batch_id']}") from e
            raise _fail(f"temporal: {e.message}") from e
        except ConnectionError as e:
            raise _fail(f"cannot reach Temporal: {e}") from e
        except OSError as e:  # a file, a terminal: not Temporal
            raise _fail(str(e)) from e
        except ValueError as e:  # a rule of the domain refused the input (e.g. OrderRefused)
            raise _fail(str(e)) from e

    return wrapper


def load_settings() -> Settings:
    """The deployment's settings, from the environment."""
    return Settings.from_env()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (each command is its own event loop)."""
    return asyncio.run(coro)


async def temporal_client() -> Client:
    """A client of the configured Temporal, or a `CliError` saying how to start one."""
    from vein2vein.observability import make_client_options
    from vein2vein.payload_keys import codec_for
    from workflows.client import connect

    s = load_settings()
    try:
        return await connect(
            s.address, s.namespace, payload_codec=codec_for(s), **make_client_options(s)
        )
    except RuntimeError as e:
        raise CliError(f"cannot reach Temporal at {s.address}: is `vein2vein dev` running?") from e


def catalog() -> dict[str, CompiledDefinition]:
    """Every product this deployment runs, with `VEIN2VEIN_DEFINITIONS` added."""
    try:
        return load_catalog(load_settings().extra_definitions)
    except (ImportError, AttributeError) as e:
        raise CliError(f"VEIN2VEIN_DEFINITIONS: {e}") from e


def definition(product: str) -> CompiledDefinition:
    """The catalog's definition of `product`, or a `CliError` listing the known ones."""
    products = catalog()
    try:
        return products[product]
    except KeyError:
        known = ", ".join(sorted(products))
        raise CliError(f"unknown product '{product}'; known: {known}") from None


def sites() -> SitesConfig:
    """The configured sites (`VEIN2VEIN_SITES`), or the built-in demonstration sites."""
    s = load_settings()
    return SitesConfig.load(s.sites_file) if s.sites_file else DEFAULT_SITES


def open_ledger() -> Ledger:
    """The configured ledger, its tables created."""
    from records import Ledger

    led = Ledger.from_url(load_settings().ledger)
    led.create_schema()
    return led
