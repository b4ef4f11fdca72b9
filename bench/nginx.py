"""nginx serving the request tree: the reference for what the machine can do with a file.

A minimal configuration: one worker, listening on 127.0.0.1 only, sendfile
on, no access log, everything it writes kept in its own directory. The
``.br`` sibling is served with ``brotli_static`` when the Debian module
(``libnginx-mod-http-brotli-static``) is installed; without it the br row
shows "n/a (no support)".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import procs
from .apps import BR, NGINX, PREFIX, Contender

BROTLI_STATIC_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
MIME_TYPES = Path("/etc/nginx/mime.types")


def executable() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


def version(binary: str) -> str:
    # "nginx version: nginx/1.22.1", on stderr.
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    return (result.stderr or result.stdout).strip().rpartition("/")[2]


def contender() -> Contender:
    """nginx, with br only if the brotli_static module can be loaded."""
    if BROTLI_STATIC_MODULE.is_file():
        return NGINX
    return Contender(NGINX.key, NGINX.name, NGINX.features - {BR})


def config(directory: Path, static_dir: str, port: int) -> str:
    """The configuration text; ``directory`` holds its pid file, logs and temporary files."""
    brotli = BROTLI_STATIC_MODULE.is_file()
    lines = [
        f"load_module {BROTLI_STATIC_MODULE};" if brotli else "",
        # As root, nginx would switch its worker to "nobody"; stay the user that made the tree.
        "user root;" if os.geteuid() == 0 else "",
        "worker_processes 1;",
        "daemon off;",
        f"pid {directory}/nginx.pid;",
        f"error_log {directory}/error.log warn;",
        "events { worker_connections 1024; }",
        "http {",
        f"    include {MIME_TYPES};" if MIME_TYPES.is_file() else "",
        "    default_type application/octet-stream;",
        "    access_log off;",
        "    sendfile on;",
        *(
            f"    {kind}_temp_path {directory}/{kind}-temp;"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "    brotli_static on;" if brotli else "",
        "    server {",
        f"        listen 127.0.0.1:{port};",
        f"        location {PREFIX} {{ alias {static_dir.rstrip('/')}/; }}",
        "    }",
        "}",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def start(binary: str, static_dir: str, directory: Path) -> procs.Server:
    directory.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    conf = directory / "nginx.conf"
    conf.write_text(config(directory, static_dir, port))
    command = [binary, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")]
    return procs.start("nginx", command, port, directory / "output.log")
