"""`smtui serve`: the app served to SSH clients and browser tabs, each viewer on its own bounded process."""
