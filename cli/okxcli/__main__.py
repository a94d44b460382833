"""`python -m okxcli`: the same as the console script `okx-shield`."""

from okxcli.main import entry

entry()
