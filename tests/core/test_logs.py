"""A process's JSON log stays one JSON object per line even for what Python prints by
itself: an uncaught exception in a thread (a Dramatiq consumer dying), an "exception
ignored" report, and the main thread's uncaught exception. Real subprocesses, real
stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import threading
    from core import logs

    logs.configure("json", uncaught=True)

    def consumer():
        raise ConnectionError("redis went away")

    thread = threading.Thread(target=consumer, name="consumer-thread")
    thread.start()
    thread.join()

    class Leaky:
        def __del__(self):
            raise ValueError("while collecting")

    Leaky()
    threading.Thread(target=lambda: exit(0)).start()  # SystemExit in a thread: silent
    raise RuntimeError("the end")
""")


def _run(program: str) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    return done.returncode, [line for line in done.stderr.splitlines() if line.strip()]


def test_every_line_python_prints_by_itself_is_a_json_record():
    code, lines = _run(PROGRAM)
    assert code == 1
    records = [json.loads(line) for line in lines]  # fails on any non-JSON line
    assert [(r["level"], r["logger"]) for r in records] == [
        ("critical", "renderbot.uncaught"), ("warning", "renderbot.uncaught"),
        ("critical", "renderbot.uncaught"),
    ]
    thread, ignored, main = records
    assert "thread consumer-thread" in thread["message"]
    assert "ConnectionError: redis went away" in thread["exception"]
    assert "Leaky.__del__" in ignored["message"]
    assert "ValueError: while collecting" in ignored["exception"]
    assert "RuntimeError: the end" in main["exception"]


def test_without_uncaught_python_keeps_its_own_stderr_reports():
    code, lines = _run(PROGRAM.replace("uncaught=True", "uncaught=False"))
    assert code == 1
    assert "Exception in thread consumer-thread:" in lines
    assert lines[-1] == "RuntimeError: the end"


REDACTING = textwrap.dedent("""
    import logging
    import sys
    from core import logs

    logs.configure(sys.argv[1])
    webhook = logging.getLogger("discord.webhook.async_")
    webhook.setLevel(logging.DEBUG)  # an operator debugging discord.py
    url = "https://discord.com/api/v10/webhooks/1234567890/aW50ZXJhY3Rpb24.tok-en_x/messages/@original"
    webhook.debug("Webhook ID %s with %s %s has returned status code %s", 1234567890, "PATCH",
                  url, 200)
    try:
        raise RuntimeError(f"PATCH {url} failed")
    except RuntimeError:
        webhook.exception("edit failed")
    logging.getLogger("renderbot.slack").warning(
        "respond failed: https://hooks.slack.com/actions/T0001/5552/Xq9sEcReT")
""")


def test_tokens_inside_logged_urls_never_reach_the_log():
    """discord.py logs the interaction webhook's URL (its token) at DEBUG; Slack response
    URLs are credentials too: neither reaches a log line, text or JSON."""
    for fmt in ("json", "text"):
        done = subprocess.run([sys.executable, "-c", REDACTING, fmt], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        out = done.stderr
        assert "/webhooks/1234567890/[token]/messages/@original" in out
        assert "returned status code 200" in out and "RuntimeError" in out
        assert "aW50ZXJhY3Rpb24" not in out and "tok-en_x" not in out
        assert "Xq9sEcReT" not in out and "hooks.slack.com/[redacted]" in out
