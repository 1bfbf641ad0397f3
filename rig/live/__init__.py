"""Live: a camera (or a clip paced like one) drives a photo frame by frame, causally, on a CPU."""
