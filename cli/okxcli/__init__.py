"""okx-shield's operator command line, the console script `okx-shield` (okxcli.main).

Product code: its `--real` modes change production AWS and OKX. It does not ship in the Lambda package
(template.yaml builds the functions from src/ only), and it runs on the local stack (okxlocal) by default.
"""
