"""The worker's core: commands, outcomes, errors, the retry policy, the processor and the loop.

Nothing here imports an adapter: the seams are Protocols (`ports`, `messages`) that `consumer.aws`
implements and `consumer.app` wires.
"""
