"""The all-in-one grid of ``pyarmonik local``: a private redis-server, the
control plane and the agents (each in its own process) and their worker
processes, on one machine."""
