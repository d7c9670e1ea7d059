"""The durable job table: enqueue, claim, retry with backoff, pacing, and the worker loop that runs it all."""
