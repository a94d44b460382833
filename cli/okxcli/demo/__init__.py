"""`okx-shield demo` (okxcli.demo.run) and its steps: one client of the local stack, showing the product end to end."""
