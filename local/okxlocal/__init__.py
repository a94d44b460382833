"""The local stack: a library that the CLI (okxcli), the demo and the tests use; it never ships.

The OKX simulator (sim/), the real proxy programs standing in for Shield (proxies/), a throwaway CA (pki.py),
the stack that joins them with moto (stack.py), the in-process Lambda runner (runner.py), the demo fleet
(demo_fleet.py), Secrets Manager's side of a rotation (rotation.py) and the fan-out's state machine run
in-process (fanout.py), both read from template.yaml (template.py).

moto is imported where a stack starts it, never at module level (stack.start, the two patches it enters,
rotation's reach into its backend): its import costs about 0.7 s, which the CLI's `call`, its `--real`
modes and anything importing these modules for their names would otherwise pay.
"""
