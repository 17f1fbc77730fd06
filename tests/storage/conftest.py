"""Throwaway: registers the moto fixtures until tests/conftest.py lists
``tests.fixtures.moto_server`` in ``pytest_plugins``; then delete this file."""

from tests.fixtures.moto_server import *  # noqa: F403
