"""gRPC-Web: the servers' methods through an HTTP port, for browsers
(ArmoniK's Admin GUI). The same method handlers, interceptors included,
as the native gRPC server: only the transport differs."""
