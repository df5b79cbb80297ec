"""Rank 1 raises while rank 0 waits in a collective: every rank must exit non-zero, quickly."""
import ember
import ember.distributed as dist

dist.init_process_group("mpi")
dist.barrier()
if dist.get_rank() == 1:
    raise ValueError("deliberate failure on rank 1")
dist.all_reduce(ember.ones(3))  # rank 1 never joins: without the abort this waits forever
print("rank 0 passed the collective", flush=True)
