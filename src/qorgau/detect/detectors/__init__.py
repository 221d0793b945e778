"""One module per detector; ``qorgau.detect.registry`` lists them explicitly."""
