"""The grid's use cases, shared by the control plane and the agent.

Decisions live here (what a session transition allows, what a submission
must satisfy, what becomes of ready tasks); storage adapters only provide
the atomic primitives. Nothing here knows about gRPC or protobuf.
"""
