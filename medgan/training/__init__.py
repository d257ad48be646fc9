"""medgan.training."""
