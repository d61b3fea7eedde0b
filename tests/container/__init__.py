"""The ``container`` test tier: kitaru and raw ZenML in real containers (``local_docker``)."""
