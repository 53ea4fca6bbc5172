"""The Streamlit leaderboard: `app.py` renders what the pure functions in `views.py` and
`spaneval.seed_tables` build from `spaneval.results_tables` tables. Launch with
`python -m spaneval dashboard`."""
