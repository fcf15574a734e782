"""The polling agent of one partition. It runs one task at a time, like
ArmoniK's pollster, through a ``Worker`` port whose first adapter speaks
the official gRPC protocol (worker client and Agent service)."""
