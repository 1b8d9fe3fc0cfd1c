"""The contract between the workload's monitoring and the stack that watches it.

The predictor writes its feature log under `FEATURE_LOG_FOLDER` of a stack's models bucket (the
serving chart and the Vertex AI deployment point it there, and the stack grants the serving
account that folder only); the monitoring step prints one JSON log line per check whose
`jsonPayload.event` is `DRIFT_LOG_EVENT`, which the stack's log-based metrics count.
"""

FEATURE_LOG_FOLDER = "cifar10/monitoring/features"
"""Where in a stack's models bucket the predictor writes its feature log
(`gs://<models bucket>/cifar10/monitoring/features`)."""
DRIFT_LOG_EVENT = "cifar10-drift"
"""`jsonPayload.event` of the drift check's log line."""
