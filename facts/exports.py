"""Stack output names, shared by the program, the preview and the tests."""

PROJECT = "project"
REGION = "region"
FLAVOR = "flavor"
CLUSTER_NAME = "clusterName"
CLUSTER_ENDPOINT = "clusterEndpoint"
KUBECONFIG = "kubeconfig"
REGISTRY_URL = "registryUrl"
NODE_SERVICE_ACCOUNT = "nodeServiceAccount"
KUBEFLOW_VERSIONS = "kubeflowVersions"
ENDPOINT_ID = "vertexEndpointId"
TENSORBOARD = "vertexTensorboard"
PERSISTENT_RESOURCE = "vertexPersistentResource"
"""Exported only by stacks that declare one."""


def bucket(role: str) -> str:
    """Output name of a bucket, e.g. ``datasetsBucket`` or ``pipelineRootBucket``."""
    head, *rest = role.split("-")
    return head + "".join(p.title() for p in rest) + "Bucket"


def workload_service_account(workload: str) -> str:
    """Output name of a workload's service account email, e.g. ``trainingServiceAccount``."""
    return f"{workload}ServiceAccount"
ALERT_EMAILS = "alertEmails"
"""E-mail addresses the stack's monitoring alerts go to (Vertex AI Model Monitoring too)."""
NOTIFICATION_CHANNELS = "notificationChannels"
"""Resource names of the stack's Cloud Monitoring notification channels."""
RETRAIN_ON_DRIFT = "retrainOnDrift"
"""Whether the stack lets the monitoring pipeline launch retraining when it finds drift."""
PREDICTIONS_DATASET = "predictionsDataset"
"""BigQuery dataset (id) that Vertex AI batch predictions are loaded into."""
