"""`python -m tts_gym.cli`: the same as the `tts-gym` script."""

import sys

from tts_gym.cli import main

sys.exit(main())
