"""The gateway's versioned migrations: `NNNN_what_it_does.sql`, applied in order (services.kit.db)."""
