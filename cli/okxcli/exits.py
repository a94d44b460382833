"""The exit codes of every `okx-shield` command (docs/local.md lists them, `okx-shield --help` too)."""

EXIT_OK = 0
EXIT_UNEXPECTED = 1  # an error okx-shield did not expect (a bug): one line, the traceback with OKX_SHIELD_DEBUG=1
EXIT_INPUT = 2  # invalid input: an argument, a file, an event, a setting, a secret that does not exist
EXIT_FAILED = 3  # a failure at run time: Shield, OKX or AWS, or a function, step or rotation that failed
EXIT_INTERRUPTED = 130  # Ctrl-C: everything the command started was stopped

EXIT_CODES_HELP = """exit codes:
  0    done
  1    an unexpected error (a bug): rerun with OKX_SHIELD_DEBUG=1 for the traceback, and report it
  2    invalid input: an argument, a file, an event, a setting, a secret that does not exist
  3    a failure at run time: Shield, OKX or AWS, or a function, step or rotation that failed
  130  interrupted (Ctrl-C); everything the command started was stopped"""
