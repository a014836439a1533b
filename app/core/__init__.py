"""Application plumbing: runtime state, security, request limits, metrics."""
