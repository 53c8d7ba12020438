"""The app's screens and what they are made of: keys, actions, the palette, the status line, modal questions."""
