"""Thin RQ jobs: ids in, one service call, progress in ``job.meta``."""
from rq import get_current_job


def report_progress(done: int, total: int) -> None:
    job = get_current_job()
    if job is None:  # inline: nobody is polling
        return
    # A Redis round trip per step is wasteful on big runs: report about 100 times.
    if done == total or total < 100 or done % max(1, total // 100) == 0:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()
