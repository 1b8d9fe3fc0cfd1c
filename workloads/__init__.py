"""Workloads that run on the platform; `cifar10` is the reference training and serving workload."""
