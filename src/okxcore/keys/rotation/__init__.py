"""Rotating a sub-account key held in a Secrets Manager secret (the rotate function).

- `run.py`: one invocation (a Secrets Manager step or the hourly cleanup) and its report;
- `rotator.py`: which step does what, as AWS's rotation template dispatches them; `steps.py`: the four steps;
- `model.py`: the vocabulary (events, steps, errors, the derivations every retry agrees on);
- `record.py`: the rotation's record of each secret (kept in the state table by okxcore.aws.rotation_state);
- `okx.py`: the master's view of one sub-account's keys; `sweep.py`: deleting keys that no longer belong;
- `retire.py`: when a key stops being the secret's and may be deleted; `lease.py`: one actor per secret;
- `ports.py`: what the rotation is given (Secrets Manager, the state table, OKX clients).
"""
