"""kccsync: an order-sync daemon between a seller's back office and Amazon."""

__version__ = "0.1.0"
