"""agenthost performance suite (`make bench`): scenarios with same-run baselines."""
