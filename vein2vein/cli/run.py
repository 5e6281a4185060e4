"""`vein2vein dev`, `vein2vein serve` and `vein2vein worker`: run the system.

These are top-level commands; `vein2vein.cli` registers them on the root application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

import typer

from vein2vein.cli.common import err, load_settings, out
from vein2vein.preflight import is_loopback, off_loopback_problems, off_loopback_warnings
from vein2vein.private import open_private_log, private_dir, restrict_umask


def worker() -> None:
    """Run the worker (embedded Temporal unless TEMPORAL_ADDRESS is set)."""
    from vein2vein.worker import main as run_worker

    run_worker([])  # sets the private umask itself


def dev(
    demo: bool = typer.Option(False, help="Start demonstration batches and watch them."),
    speed: float = typer.Option(7200.0, help="Simulated seconds per real second."),
    port: int = typer.Option(8000, help="HTTP port of the console and API."),
) -> None:
    """Embedded Temporal, worker, console and demonstration batches, all on loopback."""
    from vein2vein.demo import run_dev

    restrict_umask()  # before anything is created (`vein2vein.private`)
    os.environ.setdefault("VEIN2VEIN_SIM_SPEED", str(speed))
    settings = load_settings()
    from vein2vein.observability import configure_logging

    # The terminal shows the board and the signing hints; the JSON log goes to a file.
    log_file = private_dir(settings.data_dir) / "dev.log"
    configure_logging(settings.log_level, stream=open_private_log(log_file))
    out.print(f"log (JSON lines)   {log_file.resolve()}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_dev(settings, demo=demo, console=out, http_port=port))
    logging.shutdown()
    sys.stdout.flush()
    # The Temporal runtime's native threads abort interpreter finalisation; exit directly.
    os._exit(0)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, help="HTTP port of the console and API."),
) -> None:
    """Run the console and integration API against TEMPORAL_ADDRESS (or the embedded default).

    Off loopback it refuses to start while a demo password, a missing signing key or a data
    directory others can read remains (`vein2vein.preflight`)."""
    from vein2vein.observability import configure_logging
    from vein2vein.service import serve as serve_http

    restrict_umask()  # before anything is created (`vein2vein.private`)
    settings = load_settings()
    if not is_loopback(host):
        problems = off_loopback_problems(settings)
        if problems:
            err.print(
                f"error: refusing to serve on {host}: {'; '.join(problems)}",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        for warning in off_loopback_warnings(settings):
            err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    configure_logging(settings.log_level)

    async def go() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_http(settings, stop, host, port)

    asyncio.run(go())
