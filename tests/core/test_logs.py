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
