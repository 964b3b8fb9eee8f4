"""The real NATS server (JetStream on) for tests: a uniquely named stream per test, deleted
at its end with the decision streams made beside it.

The server is `BLACKLIST_RULES_TEST_NATS`, by default `nats://127.0.0.1:4222`: this
project's machines and CI run NATS there with `-js`. When it cannot be reached the tests
that need it fail (marker `nats`; deselect them with `-m "not nats"`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

from blacklist_rules.delivery.jetstream import JetStream
from blacklist_rules.delivery.source import BrokerError

SERVER = os.environ.get("BLACKLIST_RULES_TEST_NATS", "nats://127.0.0.1:4222")


def connect() -> JetStream:
    """A connection to the test server; a clear failure when there is none."""
    try:
        return JetStream(SERVER, timeout=3.0)
    except BrokerError as exc:
        told = str(exc)
    pytest.fail(
        f"NATS is not reachable at {SERVER} (set BLACKLIST_RULES_TEST_NATS, or deselect "
        f"these tests with -m 'not nats'): {told}",
        pytrace=False,
    )


@contextlib.contextmanager
def fresh_stream() -> Iterator[str]:
    """A stream name no other run uses (nothing made yet); the stream and its decision
    stream (`<name>.decisions`) are deleted afterwards."""
    name = f"BRT_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with connect() as broker:
            broker.delete_stream(name)
            broker.delete_stream(decisions_stream(name))


def decisions_subject(stream: str) -> str:
    """The subject a test's decisions go to."""
    return f"{stream}.decisions"


def decisions_stream(stream: str) -> str:
    """The stream `NatsSink` makes for `decisions_subject(stream)`."""
    return f"decisions_{stream}_decisions"
