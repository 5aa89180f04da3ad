"""Shared fixtures: the session's real Kafka broker (tests/integration/kafka_fixture.py)."""

pytest_plugins = ["tests.integration.kafka_fixture"]
