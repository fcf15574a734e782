"""Object store adapters: where result data (payloads, outputs) is kept."""
