"""Exit codes, documented in the README; scripts and hooks depend on them."""

VERIFIED = 0
NOT_VERIFIED = 1
USAGE = 2
ENVIRONMENT = 3
INTERRUPTED = 130
