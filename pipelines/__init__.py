"""lightretriever.pipelines: ready-made pipelines and the `lightretriever` command line."""
