"""Hyperparameter search spaces as data, rendered for Katib and for Vertex AI."""
