"""The all-in-one grid of ``pyarmonik local``: control plane, agents and
their worker processes on one machine, on embedded storage."""
