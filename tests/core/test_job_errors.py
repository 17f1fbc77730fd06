"""core.job_errors: what a creator reads is one clean line; admins keep everything."""

from __future__ import annotations

import re
import socket

import pytest

from core.job_errors import MAX_TEXT, final_text, kind_of_render_error, one_line, user_error

HOST = socket.gethostname()
STDERR = (
    f"render server exited with code 1 while starting:\n"
    f'{{"t":"2026-11-27T15:00:00Z","level":"error","msg":"render server failed to start",'
    f'"error":"Error: Failed to launch the browser process!\\n[1127/150000.1:FATAL:'
    f'platform_channel.cc] Socket path too long: /home/someone/code/renderbot/var/'
    f'render-server/cache/run/4242/org.chromium.Chromium.AbCdEf/SingletonSocket"}}\n'
    f"    at ChildProcess.onClose (/work/main/remotion/node_modules/@remotion/renderer/"
    f"dist/browser/Launcher.js:12:9)\n"
    f"host {HOST} bucket renders-prod key renders/abc.mp4"
)
ASSET = ("Failed to read from http://127.0.0.1:9391/internal-admin/secret.mp3 at "
         "fetchWithCorsCatch (http://localhost:3000/bundle.js:18276:13)\n"
         "    at async getAudioData (http://localhost:3000/bundle.js:18300:1)")
COMPOSITION = ('Could not select composition "Visualizer": Error: Invalid Visualizer props: '
               "palette: palette needs 2-5 colors\n    at parseVisualizerProps "
               "(http://localhost:3000/bundle.js:1:2)\n    at /tmp/rb-x/bundle.js:3:4")
STORAGE = ("storing the video failed: An error occurred (NoSuchBucket) when calling the "
           "PutObject operation: bucket renders-prod at https://acc.r2.cloudflarestorage.com"
           "/renders-prod/renders/abc.mp4")
TIMEOUT = "Render timed out: no progress for 120 s"
LOST = "the worker rendering it stopped (its lease expired)"
LAMBDA = ("Remotion Lambda crashed: Error: spawn /opt/bin/chromium ENOENT\n    at "
          "Process.ChildProcess._handle.onexit (node:internal/child_process:283:19)")


def clean(text: str) -> None:
    assert "\n" not in text and len(text) <= MAX_TEXT, text
    assert "Traceback" not in text and "    at " not in text, text
    assert not re.search(r"\bat \S+ \(|:\d+:\d+", text), text  # no stack frame
    for leak in ("/home/", "/work/", "/tmp/", "/opt/", "127.0.0.1", "localhost", HOST,
                 "renders-prod", "renders/abc.mp4", "cloudflarestorage", "http://", "https://",
                 "SingletonSocket", "bundle.js"):
        assert leak not in text, (leak, text)


@pytest.mark.parametrize(
    ("kind", "detail", "says"),
    [
        ("browser", STDERR, "the renderer could not start"),
        ("composition", COMPOSITION, "palette needs 2-5 colors"),
        ("asset", ASSET, "could not be loaded"),
        ("storage", STORAGE, "could not be stored"),
        ("lambda", LAMBDA, "cloud renderer failed"),
        ("timeout", TIMEOUT, "took too long"),
        ("lost", LOST, "lost this render"),
        ("cancelled", "cancel requested by an admin", "cancelled"),
        ("stale", "the reconciler picked it up 6 times", "kept failing"),
    ],
)
def test_every_failure_class_reads_as_one_clean_line_and_keeps_the_detail(kind, detail, says):
    text, kept = user_error(kind, detail)
    assert says in text
    clean(text)
    clean(final_text(text, attempts=3))
    assert final_text(text).endswith("your credits were refunded")
    assert kept == detail.strip()  # the admins' detail: the whole stderr / stack


def test_renderer_messages_are_classified():
    assert kind_of_render_error(ASSET, False) == "asset"
    assert kind_of_render_error(COMPOSITION, False) == "composition"
    assert kind_of_render_error(TIMEOUT, True) == "timeout"
    assert kind_of_render_error(STDERR, True) == "browser"
    assert kind_of_render_error("Protocol error: Target closed (x)", True) == "browser"


def test_words_that_only_look_like_a_stack_stay():
    text, _ = user_error("composition", "Error: boom at frame 0\n    at f (/x/y.js:1:2)")
    assert text == "the composition failed: Error: boom at frame 0"


def test_a_message_without_a_kind_is_cleaned():
    text = one_line(COMPOSITION + "\n" + STDERR)
    clean(text)
    assert "palette needs 2-5 colors" in text
    long = one_line("x" * 5000)
    assert len(long) == MAX_TEXT
    assert one_line("") == "the render failed"
