"""ml-platform infrastructure: stack configuration, hardware catalog, Pulumi components, preview."""
