"""nnet package."""
