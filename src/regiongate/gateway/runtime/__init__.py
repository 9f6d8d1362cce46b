"""The regiongate LLM gateway: the code the region stacks run in Lambda (and `regiongate serve` runs locally)."""
