"""The gateway: REST + SSE for the SPA, the SDK and the CLI; auth; reads projections; sends commands."""
