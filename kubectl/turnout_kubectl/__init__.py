"""`kubectl turnout`: a kubectl plugin for day two with Turnout.

List, compare and roll back a Router's versions, and browse the experiment
engines' catalogues, from the RouterVersion and ExperimentEngine objects the
operator keeps. It talks to the Kubernetes API only, with the user's own
kubeconfig and permissions: no database credentials leave the cluster.

* `cli`: the command line (argparse), output and exit codes;
* `client`: the one module that talks to the API server;
* `views`, `diffing`, `rollback`: pure (tables, diffs, choosing a target,
  following a rollout), tested without a server.
"""
