"""Agent policies: the interface (base) and the rule-based baseline (heuristic)."""
