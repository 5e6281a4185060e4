"""The embedded dev server starts again when it lost a race for a port it picked itself."""

from __future__ import annotations

from pathlib import Path

from vein2vein.embedded import _lost_port_race

#: What the dev server printed in CI when a port it had picked for its HTTP API was taken.
HTTP_PORT_TAKEN = (
    'time=2026-12-02T22:45:39.358 level=ERROR msg="error returned" component=fx '
    'error="failed listening for HTTP API on 127.0.0.1:34621: listen tcp 127.0.0.1:34621: '
    'bind: address already in use"\n'
)


def test_only_a_port_the_server_picked_itself_is_a_race(tmp_path: Path) -> None:
    log = tmp_path / "temporal.log"
    log.write_text("an earlier start: listen tcp 127.0.0.1:7233: bind: address already in use\n")
    offset = log.stat().st_size
    assert not _lost_port_race(log, offset, 7233), "nothing new in the log since this start"
    with log.open("a") as f:
        f.write(HTTP_PORT_TAKEN)
    assert _lost_port_race(log, offset, 7233), "its own HTTP port was taken: start again"
    assert not _lost_port_race(log, offset, 34621), "the port it was asked for is taken: fail"
