"""AWS/SNS metrics a publish counts at once: one count per notification by outcome (queued ones are
counted later by the outbox), whatever mix of outcomes the publish had."""
from tsunagi.ports.cloudwatch import Counters
from tsunagi.services.sns.publishing import count_fanout
from tsunagi.store.deliveries import (
    DEAD_LETTERED,
    DELIVERED,
    DENIED,
    FAILED,
    FILTERED,
    QUEUED,
    Delivery,
    Outcome,
)

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"


def _record(*outcomes: str) -> tuple[Delivery, list[Outcome]]:
    t = Delivery("1-abc", 0, "123456789012", "us-east-1", "sns", TOPIC, "m1", "", None, "", None)
    return t, [Outcome(f"{TOPIC}:s{i}", "sqs", o, None) for i, o in enumerate(outcomes)]


def _sums(counters: Counters) -> dict[str, tuple[float, float]]:
    out = {}
    for datum in counters.drain()[("123456789012", "us-east-1")]:
        assert datum.namespace == "AWS/SNS"
        assert datum.dimensions == (("TopicName", "orders"),)
        out[datum.name] = (datum.count, datum.total if datum.total is not None else datum.value)
    return out


def test_each_outcome_is_counted_under_its_metric() -> None:
    counters = Counters()
    count_fanout(counters, "123456789012", "us-east-1", TOPIC, 2, [
        _record(DELIVERED, FILTERED, DELIVERED, QUEUED),
        _record(FAILED, DENIED, DEAD_LETTERED, DELIVERED)])
    assert _sums(counters) == {
        "NumberOfMessagesPublished": (1.0, 2.0),
        "NumberOfNotificationsDelivered": (3.0, 3.0),
        "NumberOfNotificationsFilteredOut": (1.0, 1.0),
        "NumberOfNotificationsFailed": (3.0, 3.0),
    }


def test_a_publish_of_queued_notifications_counts_only_the_message() -> None:
    counters = Counters()
    count_fanout(counters, "123456789012", "us-east-1", TOPIC, 1, [_record(QUEUED, QUEUED)])
    assert _sums(counters) == {"NumberOfMessagesPublished": (1.0, 1.0)}
