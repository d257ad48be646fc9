"""medgan.turing."""
