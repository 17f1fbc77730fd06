"""One JPEG frame from this process's warm render server (previews; ``POST /stills``).

The local backend's own render server renders stills beside its renders (same bundle,
same browser). Processes with another backend (Remotion Lambda, the instant test
backend) start a local render server for stills only, which exits by itself after
``IDLE_EXIT`` idle seconds: a single frame is cheap and has no cold start locally, while
``renderStillOnLambda`` would pay a function invocation (and a cold start) per preview.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.render.local_server import LocalRenderServer
from core.render.runtime_dir import render_socket

if TYPE_CHECKING:
    from core.runtime import Runtime

IDLE_EXIT = 600.0  # seconds: a stills-only render server's idle lifetime
URL_SUFFIX = "Url"
_servers: dict[str, LocalRenderServer] = {}


@dataclass(frozen=True)
class Still:
    jpeg: bytes
    width: int
    height: int


def still_server(rt: Runtime) -> LocalRenderServer:
    """The render server this process renders stills on."""
    if rt.settings.render_backend == "local":
        return rt.backend.server  # the warm one the renders use
    s = rt.settings
    socket = render_socket()
    server = _servers.get(str(socket))
    if server is None:
        server_dir = (s.render_server_dir or s.var_dir / "render-server").absolute()
        server = LocalRenderServer(
            remotion_dir=s.remotion_dir, socket_path=socket, cache_dir=server_dir / "cache",
            chromium=s.chromium_path, max_parallel=1, idle_exit=IDLE_EXIT,
        )
        _servers[str(socket)] = server
    return server


def still_props(input_props: dict[str, Any]) -> dict[str, Any]:
    """The props a still renders with: URL props (``audioUrl``) are dropped, so the
    renderer never fetches a user's address and a preview needs no asset download; a
    frame draws the same without its soundtrack."""
    return {k: (None if k.endswith(URL_SUFFIX) else v) for k, v in input_props.items()}


async def render_still(
    rt: Runtime, *, composition: str, input_props: dict[str, Any], frame: int
) -> Still:
    """Render ``frame`` of ``composition`` with ``input_props`` as a JPEG."""
    server = still_server(rt)
    await server.ensure_started()
    out_dir = Path(tempfile.gettempdir()) / "renderbot-stills"
    path = await asyncio.to_thread(_temp_jpeg, out_dir)
    try:
        result = await server.still(input_props=still_props(input_props), frame=frame,
                                    output_path=path, composition=composition)
        jpeg = await asyncio.to_thread(path.read_bytes)
        return Still(jpeg=jpeg, width=result.width, height=result.height)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _temp_jpeg(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out_dir, suffix=".jpg", delete=False) as tmp:
        return Path(tmp.name)
