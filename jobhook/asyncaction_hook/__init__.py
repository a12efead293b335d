"""Job hook: the HTTP service that running jobs report to (section 2 of the contract)."""
