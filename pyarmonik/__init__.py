"""PyArmoniK: a Python compute grid that speaks the ArmoniK v3 gRPC API."""

__version__ = "0.1.0"
