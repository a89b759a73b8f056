# Hostile: block forever without using CPU (only the wall-clock limit can stop it).
import time

time.sleep(10**6)
