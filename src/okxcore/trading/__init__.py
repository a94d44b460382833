"""Scheduled trading: plans (plan.py), order arithmetic (sizing.py), clOrdIds (order_ids.py), the run
(executor.py, whose docstring states the exactly-once rules; what it is given is in ports.py), building and
checking orders (prepare.py), sending and reconciling them (execute.py), their results (outcomes.py), the
report (reporting.py), one delivery of a slot with what each way it ends means (delivery.py), and the resting
orders' lifetimes (lifetimes.py), owned through the order ledger (ledger.py) and ended from it (sweep.py)."""

# Nothing is imported here: the package's modules are imported by name, so that a function importing one of them
# (the order ledger's record, for every function's wiring) does not pay for the executor, the delivery and their
# models at its cold start (bench/RESULTS.md §12).
