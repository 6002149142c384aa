"""byok gateway: the HTTP API over the v1 NATS contract (DESIGN.md section 10)."""
