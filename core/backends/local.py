"""The local backend: the long-lived Remotion render server on this machine.

Each worker process has its own server (``remotion/server/render-server.mjs``) on a UNIX
socket in the process's short runtime directory (``core/render/runtime_dir.py``); it
keeps one browser and one bundle warm, renders one job at a time by default and queues
the rest (their queue position is reported as progress). Bundles are cached under
``RENDERBOT_RENDER_SERVER_DIR`` (default ``<var_dir>/render-server``), whose path may be
as long as you like. Output goes to ``<var_dir>/renders/<render id>.<mp4|webm|gif>``; the pipeline
then stores it.
"""

from __future__ import annotations

from pathlib import Path

from core.backends.base import RenderError, RenderRequest, RenderStatus
from core.job_errors import kind_of_render_error
from core.render.encoding import codec_settings
from core.render.local_server import (
    LocalRenderServer,
    RenderRequestRejected,
    RenderServerError,
)
from core.render.runtime_dir import render_socket
from core.settings import Settings


class LocalBackend:
    """Host-bound (``core.backends.base.HostBound``): the reference of a render is
    ``<host>/<render id>``, ``host`` being the name of this process's runtime dir, so the
    pipeline routes its polls to this process and treats it as lost once this process is
    gone (another worker then renders it again)."""

    name = "local"
    cheap_status = True  # a status is one request on a UNIX socket (core.poll_timing.next_poll)

    def __init__(self, server: LocalRenderServer, output_dir: Path, host: str | None = None) -> None:
        self.server = server
        self.output_dir = output_dir
        self.host = host or server.socket_path.parent.name

    def owner(self, ref: str) -> str | None:
        host, sep, _ = ref.rpartition("/")
        return host if sep else None

    def _mine(self, ref: str) -> str | None:
        """The render id of ``ref`` when this process's server holds it, else None."""
        host, sep, render_id = ref.rpartition("/")
        if sep and host != self.host:
            return None
        return render_id

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        server_dir = (settings.render_server_dir or settings.var_dir / "render-server").absolute()
        server = LocalRenderServer(
            remotion_dir=settings.remotion_dir,
            socket_path=render_socket(),
            cache_dir=server_dir / "cache",
            chromium=settings.chromium_path,
            max_parallel=settings.render_max_parallel,
        )
        return cls(server, (settings.var_dir / "renders").absolute())

    async def start(self, request: RenderRequest) -> str:
        output = request.settings.output  # the format: codec and file extension
        encoding = codec_settings(request.settings.quality, output.codec)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self.server.ensure_started()
            await self.server.submit(
                render_id=request.render_id,
                composition=request.composition,
                input_props=request.input_props,
                output_path=self.output_dir / f"{request.render_id}.{output.ext}",
                codec=encoding.codec,
                crf=encoding.crf,
                x264_preset=encoding.x264_preset,
                audio_bitrate=encoding.audio_bitrate,
            )
        except RenderRequestRejected as exc:
            raise RenderError(f"the render request was refused: {exc}", retryable=False,
                              kind="unknown") from exc
        except RenderServerError as exc:  # incl. its log tail (Chromium's stderr)
            raise RenderError(str(exc), retryable=True, kind="browser") from exc
        return f"{self.host}/{request.render_id}"

    async def status(self, ref: str) -> RenderStatus:
        render_id = self._mine(ref)
        if render_id is None:
            return RenderStatus(state="lost")  # another worker's server had it
        try:
            await self.server.ensure_started()
            found = await self.server.status(render_id)
        except RenderServerError as exc:
            raise RenderError(str(exc), retryable=True, kind="browser") from exc
        if found is None:
            return RenderStatus(state="lost")
        error = found.error_message
        kind = kind_of_render_error(error, found.retryable) if found.state == "failed" else None
        if error and found.error_stack:  # the detail (admins): message, then the stack
            error = f"{error}\n{found.error_stack}"
        return RenderStatus(
            state=found.state,
            progress=found.progress,
            queue_position=found.queue_position if found.state == "queued" else None,
            eta_seconds=found.eta_seconds,
            output_path=found.output_path if found.state == "done" else None,
            error=error,
            retryable=found.retryable,
            info={"frames_rendered": found.frames_rendered, "total_frames": found.total_frames},
            error_kind=kind,
        )

    async def cancel(self, ref: str) -> None:
        render_id = self._mine(ref)
        if render_id is not None:
            await self.server.cancel(render_id)

    async def close(self) -> None:
        await self.server.close()
