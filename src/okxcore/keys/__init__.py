"""Key lifecycle through the master key: IP-binding repair (repair*.py) and rotation (rotation*.py)."""
