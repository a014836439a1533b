"""Training jobs: submission, the queue, live events and the training request rules."""
