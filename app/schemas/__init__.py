"""Request and response bodies of the HTTP API (they also make up the OpenAPI document)."""
