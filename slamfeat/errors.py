"""The one exception type for bad input.

Raised where the input is read, with the file or value at fault named in the message; the
command-line boundary turns it into one line on stderr and exit status 2.
"""


class BadInput(ValueError):
    """Input that slamfeat cannot use: a missing or unreadable file, a wrong shape, a bad value.

    The message speaks in values and files. ``option`` names the parameter (or configuration field)
    that holds the value at fault, in the library's words; the command line prefixes the flag that
    sets it, so only the command line speaks in flags.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option
