"""The Beam stages: curate → select → shard, and the run that chains them."""
