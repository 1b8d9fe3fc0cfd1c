"""Pulumi component resources, one module per concern, composed by `infra.platform`."""
