"""The grid's processes, assembled from settings: storage wiring, the
control-plane process and the agent process. ``local`` and the CLI build on
these; so will the Kubernetes operator, through the same settings."""
