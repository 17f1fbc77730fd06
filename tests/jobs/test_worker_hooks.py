"""In-process workers come and go (tests, `serve` restarts): a stopped one must not keep
taking messages."""

from __future__ import annotations


def test_a_stopped_worker_leaves_no_hook_on_the_broker(tmp_path):
    """Else a queue declared later (the next in-process worker's own poll queue) gets a
    consumer in the stopped worker too, and the polls it takes are never run."""
    from core.runtime import Runtime
    from core.settings import Settings
    from jobs.broker import setup_broker
    from jobs.worker import RenderWorker

    settings = Settings(var_dir=tmp_path, render_backend="instant", test_backends=True,
                        _env_file=None)
    worker = RenderWorker(Runtime(settings), threads=1).start()
    inner = worker._worker
    worker.stop()
    broker = setup_broker(settings)
    assert all(getattr(m, "worker", None) is not inner for m in broker.middleware)
    broker.declare_queue("renders.host.test-stopped-worker")
    assert "renders.host.test-stopped-worker" not in inner.consumers
