"""regiongate: a region-isolated LLM API gateway on AWS CDK v2."""

__version__ = "0.1.0"
