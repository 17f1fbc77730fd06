"""A local stand-in for a deployed Remotion Lambda function (tests only): see server.py."""

from tests.lambda_standin.server import Faults, LambdaStandIn, StandinRender, webhook_signature

__all__ = ["Faults", "LambdaStandIn", "StandinRender", "webhook_signature"]
