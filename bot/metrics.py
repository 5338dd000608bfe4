"""Prometheus metrics served at /metrics."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter("orchestrate_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram(
    "orchestrate_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ALERTS_DELIVERED = Counter("orchestrate_alerts_delivered_total", "alert deliveries sent", ["destination"])
SCHEDULER_JOBS = Counter("orchestrate_scheduler_jobs_total", "scheduler job runs", ["job", "outcome"])
