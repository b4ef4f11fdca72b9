"""A headless Chromium driven over the DevTools protocol, for the browser tests.

Debian's ``chromium`` (scripts/setup installs it). The browser is started
with a fresh profile and a DevTools port of its own choosing, which it writes
to ``DevToolsActivePort`` in the profile; the test talks to its page over a
WebSocket (the ``websocket-client`` package). The process is stopped, by its
own id, when the context ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import websocket

#: The most seconds any wait of these tests lasts before it fails.
TIMEOUT = 20.0

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)

T = TypeVar("T")


def chromium_or_fail() -> str:
    """The path of the chromium binary; a failure when it is missing, or a skip with STATICWRAP_ALLOW_SKIP=1."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("STATICWRAP_ALLOW_SKIP") == "1":
            pytest.skip("chromium is not installed (scripts/setup installs it)")
        pytest.fail("chromium is not installed: run scripts/setup, or set STATICWRAP_ALLOW_SKIP=1 to skip")
    return found


def wait_for(what: str, check: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    """Call ``check`` until it returns something other than None (or False); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Page:
    """One page of the browser, spoken to with DevTools protocol commands."""

    def __init__(self, url: str) -> None:
        self._socket = websocket.create_connection(url, timeout=TIMEOUT)
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events that come first are dropped)."""
        number = next(self._ids)
        self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def close(self) -> None:
        self._socket.close()


@contextlib.contextmanager
def chromium() -> Iterator[Page]:
    """A headless Chromium with a fresh profile, and its first page."""
    binary = chromium_or_fail()
    with tempfile.TemporaryDirectory(prefix="staticwrap-chromium-") as profile:
        process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        page: Page | None = None
        try:
            port_file = os.path.join(profile, "DevToolsActivePort")

            def port() -> str | None:
                if process.poll() is not None:
                    pytest.fail(f"chromium exited with status {process.returncode}")
                with contextlib.suppress(OSError, ValueError):
                    with open(port_file) as file:
                        first = file.readline().strip()
                    return first if first.isdigit() else None
                return None

            devtools = f"http://127.0.0.1:{wait_for('chromium to open its DevTools port', port)}"

            def page_url() -> str | None:
                with contextlib.suppress(OSError, ValueError):
                    with urllib.request.urlopen(devtools + "/json/list", timeout=TIMEOUT) as response:
                        targets = json.load(response)
                    for target in targets:
                        if target.get("type") == "page":
                            return str(target["webSocketDebuggerUrl"])
                return None

            page = Page(wait_for("chromium's first page", page_url))
            yield page
        finally:
            if page is not None:
                page.close()
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
