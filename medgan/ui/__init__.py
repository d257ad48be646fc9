"""medgan.ui."""
