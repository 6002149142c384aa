"""byok key-vault service."""
