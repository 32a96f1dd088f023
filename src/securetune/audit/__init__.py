"""The tamper-evident signed ledger and the compliance report."""
