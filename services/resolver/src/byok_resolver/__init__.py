"""byok resolver service."""
