"""Regenerate docs/img/workflow_graph_timeline.png (docs/model.md, section 4; README).

    PYTHONPATH=. python docs/img/make_workflow_graph_timeline.py
"""

from sim import load_scenario
from sim.analysis.plots.timeline import plot_timeline
from sim.experiment.api import simulate_with_events

SEED, RUN = 1, 12  # a replication with 429s under every strategy and a deployment kill

sc = load_scenario("experiments/scenarios/graph_rag_ingestion.toml")
_, events = simulate_with_events(sc, RUN + 1, seed=SEED, event_log=True)
fig = plot_timeline(events, run=RUN,
                    title=f"graph_rag_ingestion.toml, run {RUN}: split, ~40 embedding calls 8 at a time, index")
fig.savefig("docs/img/workflow_graph_timeline.png", dpi=110)
