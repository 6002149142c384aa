"""byok credit-ledger service."""
