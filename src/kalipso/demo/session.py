"""--demo: a private Redis on a free loopback port with a living demo network, removed on exit.

By default a ``LiveWriter`` first writes a few minutes of history (so the board has something
to show at once) and then keeps the network going in a background thread: flows every second,
evidence, an alert within the first ~15 s, new profiles, time windows rolling every 2 minutes.
Give a generator ``Scenario`` (or ``live=False``) for the still database of earlier versions.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kalipso.data import ConnectionSettings
from kalipso.data.server import RedisServer, claim, shielded
from kalipso.demo.classic import ClassicLiveWriter
from kalipso.demo.generator import Scenario, generate
from kalipso.demo.live import LiveScenario, LiveWriter


@contextmanager
def demo_database(scenario: Scenario | None = None, live: LiveScenario | bool = True,
                  classic: bool = False) -> Iterator[ConnectionSettings]:
    """Yield settings of a private demo database; stop the writer and the server and delete
    their files after. The living writer runs until the ``with`` block ends; ``classic`` writes
    classic Slips' layout (1.0.x) instead of the current one."""
    out = tempfile.mkdtemp(prefix="kalipso-demo-")
    claim(out)  # a later start removes it if this process is SIGKILLed
    stop = threading.Event()
    thread: threading.Thread | None = None
    server: RedisServer | None = None
    try:
        server = RedisServer(unix_socket=True)  # no other local user can connect
        server.start()
        if scenario is not None or live is False:
            generate(server.client(0), server.client(1), out, scenario or Scenario())
        else:
            writer = (ClassicLiveWriter if classic else LiveWriter)(
                server.client(0), server.client(1), out, live if isinstance(live, LiveScenario) else LiveScenario())
            writer.start()  # the history, before the board's first read
            thread = writer.run_in_thread(stop)
        yield server.settings(cache_db=1)
    finally:
        with shielded():
            stop.set()
            if thread is not None:
                thread.join(timeout=5)
            if server is not None:
                server.stop()
            shutil.rmtree(out, ignore_errors=True)
