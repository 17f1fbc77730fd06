"""Remotion's REAL Lambda function on this machine, for tests (issue 15).

- :mod:`.function` — the deployed artefact (``remotionlambda-arm64.zip``) unzipped into
  ``var/cache/lambda-function`` with only its native binaries swapped for x64 ones;
- :mod:`.sandbox` — one ``unshare --mount`` namespace per invocation (tmpfs ``/opt`` with
  ``bin/chromium``, the code read-only, a private tmpfs ``/tmp``);
- ``runner.cjs`` — the Lambda Node.js runtime for one invocation (``awslambda``, the
  response stream, the context);
- :mod:`.emulator` — the Lambda REST API (Invoke, Event, DryRun, the response-streaming
  route in AWS event-stream framing, GetFunction) with injectable 429s and slow starts;
- :mod:`.harness` — all of it plus the site deployed with Remotion's ``deploySite()``;
- :mod:`.calibrate` — ``python -m tests.lambda_real.calibrate``: the planner's timing
  terms and the harness start-up, measured.

Fixtures: ``tests/fixtures/lambda_real.py``; tests: ``tests/lambda_backend/test_real_function.py``.
"""
