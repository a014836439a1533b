"""HTTP API: dependency aliases and one router per resource."""
