"""The participants' pages, one module per area (thin adapters over the services' APIs)."""
