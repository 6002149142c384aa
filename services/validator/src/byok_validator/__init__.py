"""byok validator service."""
