"""Print this process's rank and the world size (for ``ember run``)."""
import ember.distributed as dist

dist.init_process_group("mpi")
print(f"rank {dist.get_rank()} of {dist.get_world_size()}", flush=True)
