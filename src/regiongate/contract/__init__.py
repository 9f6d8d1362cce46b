"""The one contract between synthesis and the runtimes: a leaf (standard library only), versioned, strict.

- :mod:`.document`: the region document (``CONTRACT_VERSION``, ``RuntimeConfig.to_document``/``from_document``);
- :mod:`.environment`: every runtime's environment variables, read by typed ``from_env``, set by the constructs
  through the same module's builders;
- :mod:`.limits`: the limits and fixed values each layer shares (database port, default TTLs, paths);
- :mod:`.audit_event`: the audit event the gateway sends and the writer and store read;
- :mod:`.errors`: every error the gateway answers with.
"""
