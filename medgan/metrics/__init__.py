"""medgan.metrics."""
