"""Infrastructure below the domains: state shared between the app's nodes.

In the storage layer, so identity (throttling) and calls (presence, failover) can
both use it; :mod:`kallglot.scale` keeps the call operations built on it.
"""
