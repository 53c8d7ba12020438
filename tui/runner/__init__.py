"""Work done away from the UI thread: the trainer loops, their process or thread, and what travels to and from them."""
