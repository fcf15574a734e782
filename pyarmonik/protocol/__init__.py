"""gRPC plumbing shared by the control plane and the agent: conversion of
the messages both speak, and the one interceptor that maps domain errors to
gRPC statuses. Knows protobuf; knows nothing of storage."""
