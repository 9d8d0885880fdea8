"""The agent's five states, one module each; every function takes the run's memory and returns the next one.

    initializing -> searching -> planning -> analyzing -> reviewing (-> analyzing, one repair round) -> completed

task.py runs each as a durable step (`ctx.step`), so a worker killed mid-run resumes at the state it was in.
"""
