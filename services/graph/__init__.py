"""Graph: the entity/interaction graph of a run into graph.json (and Neo4j when configured)."""
