"""CDK stacks of regiongate: one isolated stack per region."""
