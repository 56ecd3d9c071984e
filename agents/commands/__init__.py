"""The agents' `tts-gym` subcommands (`train`, `discover`, `check-controller`), added to the
command line through the `tts_gym.commands` entry points; they sit in the CLI's layer."""
