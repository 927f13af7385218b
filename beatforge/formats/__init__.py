"""Readers and writers of the chart files of four rhythm-game families (osu!, Quaver, StepMania,
Frets on Fire), plus the archives they come in. ``beatforge.formats.loader.load_charts`` dispatches."""
