"""Scale-out: the Redis event bus, the media-node registry and dead-node failover.

Without ``KALLGLOT_REDIS_URL`` nothing here runs and a node works alone.
"""
