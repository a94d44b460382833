"""Key lifecycle through the master key: rotation of sub-account keys (`rotation/`) and IP-binding repair
(`repair/`). The audit's and the probe's use of the repair live with them (okxcore.audit.repair,
okxcore.probe.repair)."""
