"""What a failed Remotion Lambda SDK call (``start``, ``status``) becomes: a
:class:`RenderError` that is retryable or not, with a readable one-line message.

Used by the ``lambda`` backend (``core/backends/lambda_.py``, whose docstring has the
retry rules). The words of Remotion's progress errors are in ``lambda_errors.py``.
"""

from __future__ import annotations

import re

import botocore.exceptions
from remotion_lambda.exception import (
    RemotionException,
    RemotionInvalidArgumentException,
    RemotionRenderingOutputError,
)
from remotion_lambda.version import VERSION

from core.backends.base import RenderError
from core.backends.lambda_errors import first_line, is_flaky, one_line

# An Unhandled error of the start call that says the function itself died.
CRASHED_START = ("Runtime exited", "Task timed out", "Runtime.ExitError")
FUNCTION_VERSION = re.compile(r"which has the version (\d+\.\d+\.\d+)")


def start_error(
    exc: Exception, *, invoke_max_attempts: int, function_name: str, region: str
) -> RenderError:
    if isinstance(exc, botocore.exceptions.ClientError):
        return RenderError(client_error_message(
            exc, "start", invoke_max_attempts=invoke_max_attempts,
            function_name=function_name, region=region), retryable=False)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return RenderError(
            f"Remotion Lambda could not be reached after {invoke_max_attempts} "
            f"tries ({type(exc).__name__})", retryable=False,
        )
    message = str(exc)
    if "Version mismatch" in message:
        return RenderError(version_message(message), retryable=False)
    if isinstance(exc, RemotionInvalidArgumentException):
        return RenderError(f"invalid Remotion Lambda request: {first_line(message)}",
                           retryable=False)
    if isinstance(exc, RemotionRenderingOutputError):
        if "returned an error" in message and (
            is_flaky(message) or any(m in message for m in CRASHED_START)
        ):
            return RenderError(f"Remotion Lambda crashed: {first_line(message)}",
                               retryable=True)
        return RenderError(f"Remotion Lambda refused the render: {first_line(message)}",
                           retryable=False)
    if isinstance(exc, RemotionException):
        return RenderError(f"Remotion Lambda: {first_line(message)}", retryable=True)
    return RenderError(f"Remotion Lambda start failed ({type(exc).__name__})", retryable=True)


def status_error(
    exc: Exception, *, invoke_max_attempts: int, function_name: str, region: str
) -> RenderError:
    message = str(exc)
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        permanent = code in ("ResourceNotFoundException", "AccessDeniedException",
                             "UnrecognizedClientException", "InvalidSignatureException")
        return RenderError(client_error_message(
            exc, "status", invoke_max_attempts=invoke_max_attempts,
            function_name=function_name, region=region), retryable=not permanent)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return RenderError(f"Remotion Lambda could not be reached ({type(exc).__name__})",
                           retryable=True)
    if "Version mismatch" in message:
        return RenderError(version_message(message), retryable=False)
    return RenderError(f"Remotion Lambda progress failed: {first_line(message)}",
                       retryable=True)


def client_error_message(
    exc: botocore.exceptions.ClientError, op: str, *, invoke_max_attempts: int,
    function_name: str, region: str,
) -> str:
    code = error_code(exc)
    if code == "TooManyRequestsException" or code in ("Throttling", "ThrottlingException"):
        reason = exc.response.get("Reason") or exc.response.get("Error", {}).get("Message")
        return (f"AWS Lambda is throttling renderbot ({reason or 'rate exceeded'}); gave up "
                f"after {invoke_max_attempts} tries")
    if code == "ResourceNotFoundException":
        return (f"the Remotion Lambda function {function_name!r} does not exist in "
                f"{region}: deploy it with `npm run deploy:lambda --prefix remotion`")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"AWS Lambda {op} failed: {code or 'error'}" + (f" (HTTP {status})" if status else "")


def version_message(message: str) -> str:
    found = FUNCTION_VERSION.search(message)
    theirs = f" (it is {found.group(1)})" if found else ""
    return (f"the deployed Remotion Lambda function is not version {VERSION}{theirs}, "
            "renderbot's pinned Remotion: deploy the matching function with `npm run "
            "deploy:lambda --prefix remotion` and update RENDERBOT_REMOTION_FUNCTION_NAME")


def pipeline_error(error: RenderError) -> RenderError:
    """The start/status error as the pipeline gets it: the message (admins), at most one
    line; the creator reads what ``core.job_errors`` says of kind ``lambda``."""
    return RenderError(one_line(str(error)), retryable=error.retryable,
                       kind=error.kind or "lambda")


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "") or "")
