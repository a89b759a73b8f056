"""k2bench analysis: tables, plots and the leaderboard from results/ (`python -m analysis`); reads results/ only."""
