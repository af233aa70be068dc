"""Content review: the feature library, multi-view matching, hash banks and decisions."""
