import sys
from sim import load_scenario
from sim.experiment.api import simulate_with_events
from sim.analysis.plots.timeline import plot_timeline
sc = load_scenario("experiments/scenarios/graph_rag_ingestion.toml")
df, ev = simulate_with_events(sc, 40, seed=int(sys.argv[1]), event_log=True)
g = df.groupby("run").apply(lambda d: (d.crashes.sum()+d.deploy_kills.sum(), d.rate_limited.sum()))
print(g.head(40).to_string())
run = int(sys.argv[2])
fig = plot_timeline(ev, run=run, title=f"graph_rag_ingestion.toml, run {run}: split, ~40 embedding calls 8 at a time, index")
fig.savefig("docs/img/workflow_graph_timeline.png", dpi=110)
