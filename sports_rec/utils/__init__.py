"""Small helpers shared by the entry points: resolvers, rank-aware logging, run folders."""
