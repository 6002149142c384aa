"""byok usage-tracker service."""
