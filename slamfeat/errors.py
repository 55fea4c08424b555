"""The one exception type for bad input.

Raised where the input is read, with the file or value at fault named in the message; the
command-line boundary turns it into one line on stderr and exit status 2.
"""


class BadInput(ValueError):
    """Input that slamfeat cannot use: a missing or unreadable file, a wrong shape, a bad value."""
