"""The service side of models: finding them on disk and loading their generators."""
