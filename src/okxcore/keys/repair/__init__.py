"""IP-binding repair through the master key: the repair itself (`binding.py`), finding a key held in a secret
among the master's sub-accounts (`locate.py`), and the repair mode alone (`modes.py`), which the audit's and the
probe's event models need without importing the repair."""
