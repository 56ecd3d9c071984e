"""The compiled batch core: the replay rules of `Episode` as numba functions over arrays.

`replay` holds the rules every compiled piece shares (one explore, one read, the confidence
lookup); the batch step of N episodes and the compiled built-ins are built on them.
"""
