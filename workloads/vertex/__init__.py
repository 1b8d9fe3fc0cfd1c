"""Vertex AI custom training and hyperparameter tuning jobs for the CIFAR-10 trainer.

`jobs` builds the google-cloud-aiplatform objects (no network until submitted); `cli` is
`mlp vertex custom-job|tune`, which prints the request with `--dry-run`.
"""
