"""Generation: charts from songs (osu!mania) and positions from rhythm (osu!standard)."""
