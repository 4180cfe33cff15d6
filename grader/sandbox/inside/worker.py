"""Inside the sandbox: the worker program (steps 1-3, then :func:`.zygote.import_and_serve`),
or, with ``{"pool": true}`` in its config, the warm pool (:mod:`.warm_pool`)."""
import json
import os
import sys
import traceback

from . import warm_pool
from .confine import (Capture, apply_limits, become_subreaper, die_with_parent, drop_privileges, landlock,
                      reach_runtime_through_fds, redirect_stdio)
from .loading import load_module, load_probes
from .zygote import import_and_serve


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    if config.get("pool"):
        warm_pool.main(config)
        return
    req_fd, rep_fd = config["req_fd"], config["rep_fd"]
    sys.dont_write_bytecode = True
    apply_limits(config["limits"], own_uid=config.get("uid") is not None)

    # Until "started", only trusted code runs and its errors go to the grader's startup log.
    protocol = load_module("_grader_protocol", config["protocol"])
    if config.get("uid") is not None and config.get("imports_through_fds"):  # rlimits fallback as root
        reach_runtime_through_fds()
    landlock_abi = 0
    if config.get("landlock"):  # rlimits fallback; before the uid switch, so that root opens the rules' paths
        rules = config["landlock"]
        landlock_abi = landlock(rules["read"], rules["write"], rules["devices"])
    if config.get("uid") is not None:
        drop_privileges(config["uid"])
    if config.get("parent_pid"):  # after the uid change, which clears the death signal
        die_with_parent(config["parent_pid"])
    become_subreaper()
    try:
        probes = load_probes(config)
    except BaseException:
        message = "the probes module failed to import:\n" + traceback.format_exc()[-3000:]
        protocol.send_message(rep_fd, {"status": "fatal", "message": message})
        os._exit(3)
    capture = Capture(config["limits"]["output_bytes"])
    redirect_stdio(capture)
    protocol.send_message(rep_fd, {"status": "started", "landlock": landlock_abi})

    student_path = config["source"]
    sys.path.insert(0, os.path.dirname(student_path))
    import_and_serve(protocol, probes, config, capture, req_fd, rep_fd,
                      lambda: load_module(config["module"], student_path))
