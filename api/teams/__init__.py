"""Teams and their members: create, list, get, delete; add, change and remove members."""
