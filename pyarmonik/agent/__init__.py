"""The polling agent of one partition and the Agent service its worker
calls back. It runs one task at a time, like ArmoniK's pollster."""
