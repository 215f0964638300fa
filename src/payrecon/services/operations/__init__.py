"""Operations: task runs and dead letters, manual triggers, metrics, the audit log."""
