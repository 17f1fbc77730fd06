"""Fixtures of Remotion's real Lambda function (tests/fixtures/lambda_real.py)."""

from tests.fixtures.lambda_real import real_lambda, real_lambda_env  # noqa: F401
