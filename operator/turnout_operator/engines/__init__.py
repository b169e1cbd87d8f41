"""The experiment engines: their plugin processes (`registry`), the ExperimentEngine
objects that show them to users (`objects`) and the pure building of their status
(`catalogue`)."""
