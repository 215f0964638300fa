"""Use cases: each ties domain, feeds and store together inside one unit of work."""
