"""What the API and the worker share: settings, the data-directory layout, job records, the queue.

The app and the worker never import each other; they meet only here, in Redis and on disk.
"""
