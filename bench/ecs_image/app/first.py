# The bench's ECS task: one line of output, then exit.
print("first line", flush=True)
