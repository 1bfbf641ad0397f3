"""The photo engine: edit and reenact a real photo by warping its own pixels along a 3DMM flow."""
