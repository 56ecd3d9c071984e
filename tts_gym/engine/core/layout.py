"""Columns of the compiled core's state arrays (see `batch`), importable without numba."""

# columns of `episodes` (int64 [N, EPISODE_FIELDS])
QUESTION = 0  # global question index into the tables
N_ORDER = 1  # branches in the episode's order
N_OPENED = 2
TOKENS = 3
DONE = 4
ANSWER = 5  # the answer id given when the episode ended
N_VOTES = 6  # revealed answers of unpruned slots
N_DISTINCT = 7  # distinct answers among them
PINNED = 8  # the order was given, not drawn
# ... and the outcome of the episode's last action
SLOT = 9  # slot acted on, -1 for ANSWER, the batch actions and after a reset
SHOWN = 10  # answer id the action revealed, NO_ANSWER if none
ENDED = 11  # the action finished a branch (BRANCH, READ, CONTINUE, the batch actions)
COST = 12  # tokens the action spent
KIND = 13  # ActionKind of the action, -1 after a reset
VOTES_CHANGED = 14  # the action changed the vote counts
POOL = 15  # order[:POOL] holds a permutation of 0..POOL-1 (a drawn order's pool); 0 if not
N_ALIVE = 16  # open slots neither finished nor pruned
SEQ_TOKENS = 17  # sequential tokens: when the last generation ends (CLOCK or a write-up)
WAVE = 18  # sequential tokens the last action added
WAVE_FROM = 19  # the first slot a batch action may have touched (see SEGMENT), -1 if single
CLOCK = 20  # the sum of the waves' durations
EPISODE_FIELDS = 21

# columns of `slots` (int64 [N, max_branches, SLOT_FIELDS])
BRANCH = 0  # stored branch index
DEPTH = 1  # explore count
CHARGED = 2  # tokens charged to the branch
CURRENT = 3  # answer at the current depth (revealed or not)
REVEALED = 4  # last revealed answer, NO_ANSWER before the first reveal
FINISHED = 5
PRUNED = 6
SEGMENT = 7  # tokens it generated in the last batch action before its write-up, -1 if it
# was not in it (slots from WAVE_FROM on; the others are left as they were)
WRITEUP = 8  # tokens of write-up its last explore charged (0: that explore was no write-up)
SLOT_FIELDS = 9

# entries of `limits` (int64 [LIMIT_FIELDS])
MAX_BRANCHES = 0
PROBE_COST = 1
REVEAL_ON_CONTINUE = 2
TOKEN_LIMIT = 3
PARALLEL_LIMIT = 4  # rules.parallel_limit(max_parallel)
LIMIT_FIELDS = 5
