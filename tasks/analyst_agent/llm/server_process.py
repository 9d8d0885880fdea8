"""Entry point of the local model server subprocess: llama-cpp-python's OpenAI-compatible server, tied to its parent.

    python -m tasks.analyst_agent.llm.server_process --parent-pid 1234 -- --model m.gguf --port 8123 ...

Everything after `--` goes to `python -m llama_cpp.server` unchanged. The one addition: a watcher thread that ends the
process when its parent is gone, so a SIGKILLed worker never leaves a 1 GB model server behind (atexit hooks do not
run on SIGKILL, and PR_SET_PDEATHSIG follows the parent *thread*, which may be a short-lived task thread).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

POLL_SECONDS = 1.0


def watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)  # the parent died and we were re-parented: nobody will use or stop this server
        time.sleep(POLL_SECONDS)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="server_process")
    parser.add_argument("--parent-pid", type=int, required=True)
    ours = parser.parse_args(argv[:split])
    if os.getppid() != ours.parent_pid:
        sys.exit(0)
    threading.Thread(target=watch_parent, args=(ours.parent_pid,), name="parent-watch", daemon=True).start()

    from llama_cpp.server.__main__ import main as llama_server_main

    sys.argv = ["llama_cpp.server", *argv[split + 1 :]]
    llama_server_main()


if __name__ == "__main__":
    main()
