# Hostile: spin forever.
while True:
    pass
