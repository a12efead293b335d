from asyncaction.runtime.metrics import Metrics


def test_counters_sum_over_labels_and_render_as_prometheus_text() -> None:
    metrics = Metrics()
    metrics.inc("writes_total", {"resource": "jobs"})
    metrics.inc("writes_total", {"resource": "secrets"}, 2)
    metrics.set("queue_depth", 3)
    assert metrics.total("writes_total") == 3
    assert metrics.snapshot() == {
        "queue_depth": 3,
        'writes_total{resource="jobs"}': 1,
        'writes_total{resource="secrets"}': 2,
    }
    assert 'writes_total{resource="secrets"} 2\n' in metrics.render()
