"""The blocking Remotion Lambda SDK (boto3) run from asyncio: a small thread pool, one
``RemotionClient`` — with its own boto3 session and Lambda client — per thread (boto3
sessions are not thread-safe). Used by the ``lambda`` backend (``core/backends/lambda_.py``).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from remotion_lambda import RemotionClient


class OneLambdaClient(RemotionClient):
    """The SDK makes a new boto3 Lambda client for every call (remotion-lambda 4.0.527,
    ``_invoke_lambda``): tens of ms of CPU per poll, which capped how many renders one
    worker keeps polled (``benchmarks/lambda_polling.py``). One client per SDK thread."""

    _lambda_client: Any = None

    def _create_lambda_client(self) -> Any:
        if self._lambda_client is None:
            self._lambda_client = super()._create_lambda_client()
        return self._lambda_client


class RemotionSdk:
    """Runs the blocking SDK on a thread pool, one RemotionClient (and boto3 session) per
    thread."""

    def __init__(
        self, *, region: str, serve_url: str, function_name: str, config: Config,
        force_path_style: bool, threads: int,
    ) -> None:
        self.region = region
        self.serve_url = serve_url
        self.function_name = function_name
        self.config = config
        self.force_path_style = force_path_style
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="remotion-sdk")

    def client(self) -> RemotionClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = OneLambdaClient(
                region=self.region, serve_url=self.serve_url, function_name=self.function_name,
                session=boto3.session.Session(region_name=self.region), config=self.config,
                force_path_style=self.force_path_style,
            )
            self._local.client = client
        return client

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: getattr(self.client(), method)(*args, **kwargs)
        )

    async def run(self, fn: Any) -> Any:
        """``fn(boto3 session)`` on the pool (the thread's own session)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self.client().session))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
