"""--demo: a private Redis on a free loopback port, filled with the demo network, removed on exit."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from kalipso.data import ConnectionSettings
from kalipso.data.server import RedisServer, shielded
from kalipso.demo.generator import Scenario, generate


@contextmanager
def demo_database(scenario: Scenario | None = None) -> Iterator[ConnectionSettings]:
    """Yield settings of a private demo database; stop the server and delete its files after."""
    out = tempfile.mkdtemp(prefix="kalipso-demo-")
    server = RedisServer()
    try:
        server.start()
        generate(server.client(0), server.client(1), out, scenario or Scenario())
        yield ConnectionSettings(port=server.port, cache_url=f"redis://127.0.0.1:{server.port}/1")
    finally:
        with shielded():
            server.stop()
            shutil.rmtree(out, ignore_errors=True)
