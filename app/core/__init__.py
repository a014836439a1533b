"""HTTP plumbing shared by the routes: security, request limits, metrics."""
