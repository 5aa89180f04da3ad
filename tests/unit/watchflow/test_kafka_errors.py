"""A broker that fails to start says why first, not the shutdown noise that follows."""

from __future__ import annotations

from watchflow.kafka_errors import BrokerStartError


def test_start_failure_leads_with_the_cause_not_the_shutdown_noise() -> None:
    log = "\n".join(
        [
            "[2026-01-01 00:00:00,000] INFO starting (kafka.Kafka$)",
            "[2026-01-01 00:00:01,000] ERROR Unable to start acceptor for PLAINTEXT (kafka.x)",
            "org.apache.kafka.common.KafkaException: Socket server failed to bind to 1.2.3.4:5",
            "\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:1)",
            "Caused by: java.net.BindException: Address already in use",
            *[
                f"[2026-01-01 00:00:02,000] INFO shutting down part {i} (kafka.y)"
                for i in range(60)
            ],
        ]
    )
    error = BrokerStartError("the Kafka broker exited during startup", log, "broker.log")
    assert error.errors.splitlines() == [
        "ERROR Unable to start acceptor for PLAINTEXT (kafka.x)",
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 1.2.3.4:5",
        "Caused by: java.net.BindException: Address already in use",
    ]
    assert len(error.log_tail.splitlines()) == 40
    assert str(error).index("Address already in use") < str(error).index("shutting down")
